"""Run by test_train_ddp.py, in one process or under torchrun: debug_stage2 on synthetic data.

    python train_ddp_worker.py OUT PARALLEL GRAD_ACCUM [STOP_AFTER]
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from psi0_training.train.loop import train  # noqa: E402
from train_util import data_for, quick  # noqa: E402

out, parallel, accum = sys.argv[1], sys.argv[2], int(sys.argv[3])
stop_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
cfg = quick("debug_stage2", Path(out), steps=3, batch_size=8, grad_accum=accum, parallel=parallel,
            warmup_steps=1, tensorboard=False)
tr, va, st = data_for(cfg)
r = train(cfg, tr, va, st, say=lambda *a: None, stop_after=stop_after)
if os.environ.get("RANK", "0") == "0":  # one writer: lines of two processes could interleave
    print(f"losses {r.losses}\neval {r.eval.get('val/loss')}", flush=True)
