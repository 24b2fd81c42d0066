"""2-process DDP and FSDP on gloo (torchrun) compute what 1 process computes on the same global batch.

Both see the same 8 samples per step (data order and flow noise are functions of (seed, step) and of the
sample's position in the global batch) and divide by the same global term count, so the gradients are the
same up to float summation order (gloo's all-reduce vs one batched backward); the weights after 3 AdamW
steps agree to ~1e-6. Gradient accumulation (2 micro-batches of 4 in 1 process) is the same computation.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from train_util import max_abs_diff, safetensors_of

WORKER = str(Path(__file__).with_name("train_ddp_worker.py"))


def _run(out: Path, nproc: int, parallel: str = "ddp", accum: int = 1, stop_after: int | None = None):
    cmd = [sys.executable, WORKER, str(out), parallel, str(accum)] + ([str(stop_after)] if stop_after else [])
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] + cmd[1:]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env={**__import__("os").environ,
                                                                                "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = dict(l.split(" ", 1) for l in proc.stdout.splitlines() if l.startswith(("losses", "eval")))
    return eval(lines["losses"]), float(lines["eval"]) if lines["eval"] != "None" else None


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    return out, _run(out, 1)


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_equal_one_process(single, tmp_path, parallel):
    """DDP replicates the model; FSDP2 shards weights, gradients and AdamW states over the 2 processes."""
    one_dir, (one_losses, one_eval) = single
    two_losses, two_eval = _run(tmp_path, 2, parallel)
    assert two_losses == pytest.approx(one_losses, rel=1e-5)
    assert two_eval == pytest.approx(one_eval, rel=1e-5)
    diff = max_abs_diff(safetensors_of(one_dir / "checkpoints" / "000003"),
                        safetensors_of(tmp_path / "checkpoints" / "000003"))
    assert diff < 1e-5, diff


def test_gradient_accumulation_equals_one_big_batch(single, tmp_path):
    one_dir, (one_losses, _) = single
    acc_losses, _ = _run(tmp_path, 1, accum=2)
    assert acc_losses == pytest.approx(one_losses, rel=1e-5)
    diff = max_abs_diff(safetensors_of(one_dir / "checkpoints" / "000003"),
                        safetensors_of(tmp_path / "checkpoints" / "000003"))
    assert diff < 1e-5, diff


def test_fsdp_checkpoint_resumes_on_two_processes(single, tmp_path):
    """FSDP saves gathered (unsharded) weights and optimizer state and shards them again on resume."""
    one_dir, (one_losses, _) = single
    first, _ = _run(tmp_path, 2, "fsdp", stop_after=2)
    rest, _ = _run(tmp_path, 2, "fsdp")
    assert first + rest == pytest.approx(one_losses, rel=1e-5)
    diff = max_abs_diff(safetensors_of(one_dir / "checkpoints" / "000003"),
                        safetensors_of(tmp_path / "checkpoints" / "000003"))
    assert diff < 1e-5, diff
