"""Pick the stage's task object (the stage-specific half of the training loop).

A task provides: collate(), build_model(), empty_model(), load_weights(model, ckpt), randomness(step, B),
weight_count(batch, rnd, positions), loss_sum(model, batch, rnd, positions, device),
evaluate(model, batches, device), save_model(directory, model, extra), check_resume(ckpt).
"""
from __future__ import annotations

from pathlib import Path

from psi0_training.train.configs import TrainConfig
from psi0_training.train.dist import DistInfo, barrier


def make_task(cfg: TrainConfig, stats: dict, train_set, val_set, ckpt: Path | None, info: DistInfo = DistInfo()):
    if cfg.stage == 1:
        from psi0_training.train.fast_tokenizer import FastTokenizer
        from psi0_training.train.stage1 import FastTask

        fitted = Path(cfg.run_dir) / "fast_tokenizer.json"
        if ckpt is not None:
            fast = FastTokenizer.load(Path(ckpt) / "fast_tokenizer.json")
        else:
            # BPE fitting is not guaranteed to be bit-identical across processes: rank 0 fits, the others load.
            fast = None
            if info.main:
                task = FastTask(cfg, stats, fit_set=train_set)
                fitted.parent.mkdir(parents=True, exist_ok=True)
                task.fast.save(fitted)
            barrier(info)
            fast = FastTokenizer.load(fitted)
        task = FastTask(cfg, stats, fast=fast)
        task.report_fast(val_set if val_set is not None and len(val_set) else train_set)
    else:
        from psi0_training.train.stage_flow import FlowTask
        task = FlowTask(cfg, stats)
    if ckpt is not None:
        task.check_resume(ckpt)
    return task
