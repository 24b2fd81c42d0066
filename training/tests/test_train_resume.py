"""Exact resume, interruption, NaN handling and bad input (clear errors before training starts)."""
import json

import numpy as np
import pytest
import torch

from psi0_training.train.batches import DataMismatchError
from psi0_training.train.loop import TrainingDiverged, train
from psi0_training.train.state import complete_checkpoints
from train_util import data_for, max_abs_diff, quick, safetensors_of

QUIET = dict(say=lambda *a: None)


def _opt_state(ckpt):
    return torch.load(ckpt / "training_state" / "optimizer.pt", weights_only=True)


@pytest.mark.parametrize("stage", [3, 1])
def test_two_steps_then_resume_to_four_equals_four_straight(tmp_path, stage):
    over = dict(steps=4, warmup_steps=2, eval_batches=1)
    straight_cfg = quick(f"debug_stage{stage}", tmp_path / "straight", **over)
    data = data_for(straight_cfg)
    straight = train(straight_cfg, *data, **QUIET)
    split_cfg = quick(f"debug_stage{stage}", tmp_path / "split", **over)
    first = train(split_cfg, *data, stop_after=2, **QUIET)          # as if killed after step 2
    assert first.status == "interrupted" and first.step == 2 and first.checkpoint.name == "000002"
    second = train(split_cfg, *data, **QUIET)                        # same command: resumes at step 2
    assert second.step == 4 and len(second.losses) == 2
    # Exact on CPU: weights, optimizer moments and the loss of every step are bit-identical, because the data
    # order and the flow noise / RTC delays are functions of (seed, step) and every state is saved exactly.
    assert first.losses + second.losses == straight.losses
    assert max_abs_diff(safetensors_of(second.checkpoint), safetensors_of(straight.checkpoint)) == 0.0
    a, b = _opt_state(second.checkpoint), _opt_state(straight.checkpoint)
    for k in a["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a["state"][k][name], b["state"][k][name])
    sched = json.loads((second.checkpoint / "training_state" / "scheduler.json").read_text())
    assert sched["last_epoch"] == 4


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from psi0_training.train.stage_flow import FlowTask
    cfg = quick("debug_stage3", tmp_path, steps=6, save_every=2)
    data = data_for(cfg)
    real = FlowTask.loss_sum
    calls = {"n": 0}

    def poisoned(self, *a, **k):
        calls["n"] += 1
        out = real(self, *a, **k)
        return out * float("nan") if calls["n"] == 3 else out   # step 3 diverges

    monkeypatch.setattr(FlowTask, "loss_sum", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss nan .* step 3.*Last good checkpoint: .*000002"):
        train(cfg, *data, **QUIET)
    kept = complete_checkpoints(tmp_path)
    assert [c.name for c in kept] == ["000002"]
    assert all(torch.isfinite(v).all() for v in safetensors_of(kept[0]).values())
    monkeypatch.setattr(FlowTask, "loss_sum", real)
    done = train(cfg, *data, **QUIET)   # fixed, the same command resumes from the good checkpoint
    assert done.step == 6 and len(done.losses) == 4


def test_dataset_dims_not_matching_the_config_fail_before_training(tmp_path):
    cfg = quick("debug_stage3", tmp_path, steps=2)
    bad_cfg = quick("debug_stage3", tmp_path, steps=2, horizon=12)
    tr, va, st = data_for(bad_cfg)  # horizon 12 chunks for a horizon-30 config
    with pytest.raises(DataMismatchError, match=r"action chunks are \(12, 36\).*horizon 30"):
        train(cfg, tr, va, st, **QUIET)
    tr, va, st = data_for(quick("debug_stage1", tmp_path))  # 48-D task-space data for a 36-D stage
    with pytest.raises(DataMismatchError, match=r"action chunks are \(5, 48\)"):
        train(quick("debug_stage2", tmp_path, steps=2, horizon=5, max_delay=3), tr, va, st, **QUIET)
    assert not (tmp_path / "checkpoints").exists()


def test_norm_stats_not_matching_the_config_fail_before_training(tmp_path):
    cfg = quick("debug_stage3", tmp_path, steps=2)
    tr, va, st = data_for(cfg)
    short = {**st, "action": {k: v[:35] for k, v in st["action"].items()}}
    with pytest.raises(DataMismatchError, match=r"stats action.min have 35 dims, the config expects 36"):
        train(cfg, tr, va, short, **QUIET)
    broken = {**st, "observation.state": {**st["observation.state"], "max": np.full(32, np.nan)}}
    with pytest.raises(DataMismatchError, match="non-finite"):
        train(cfg, tr, va, broken, **QUIET)
    with pytest.raises(DataMismatchError, match="'q01'"):
        train(quick("debug_stage1", tmp_path), *data_for(quick("debug_stage1", tmp_path))[:2],
              {"action": {"min": np.zeros(48), "max": np.ones(48)}}, **QUIET)
    assert not (tmp_path / "checkpoints").exists()


def test_resume_with_other_data_is_refused(tmp_path):
    cfg = quick("debug_stage3", tmp_path, steps=2)
    train(cfg, *data_for(cfg), stop_after=1, **QUIET)
    with pytest.raises(DataMismatchError, match="norm_stats.json"):
        train(cfg, *data_for(cfg, seed=5), **QUIET)


def test_sigterm_saves_and_the_same_command_resumes(tmp_path):
    """A real `psi0 train` process killed with SIGTERM saves its step and exits 130; rerun finishes the job."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from psi0_training.train.logs import read_metrics
    from train_util import convert_dataset

    ds = convert_dataset(tmp_path / "data", episodes=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "psi0_training.train_cmd", "debug_stage3", "--dataset", str(ds), "--output_dir",
           str(out), "--progress", "false", "--eval_every", "0", "--save_every", "1000", "--val_episodes", "0"]
    proc = subprocess.Popen(cmd + ["--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 200
    while len(read_metrics(out)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    saved = complete_checkpoints(out)
    assert len(saved) == 1
    stopped = int(saved[0].name)
    assert stopped >= 3
    again = subprocess.run(cmd + ["--steps", str(stopped + 2)], capture_output=True, text=True, timeout=200,
                           env={**os.environ})
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming debug_stage3 from {saved[0]} at step {stopped}" in again.stdout
    assert [c.name for c in complete_checkpoints(out)][-1] == f"{stopped + 2:06d}"
