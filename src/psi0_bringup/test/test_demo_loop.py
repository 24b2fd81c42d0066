"""The CI's miniature of the end-to-end loop: `psi0 demo all` with one short demonstration, a few training
steps and one closed-loop rollout per driver, over real processes.

Checks the loop closes, not the success rate (docs/demo.md has the measured rates): the recorded bag
becomes a dataset, the trainer writes a checkpoint from it, the policy node loads that checkpoint and its
actions reach the robot through the AMO bridge (action and LowCmd rates, inference latency measured in the
rollout), the hold-still baseline runs on the same seed, and the report is written.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_demo_loop_closes(tmp_path):
    work = tmp_path / "demo"
    env = dict(os.environ, ROS_DOMAIN_ID=str(100 + (os.getpid() + 37) % 100))
    cmd = [sys.executable, "-m", "psi0_bringup.cli", "demo", "all", "--workdir", str(work),
           "--episodes", "1", "--data-timeout", "12", "--keep-failed", "--trim-start", "1", "--trim-end", "1",
           # plumbing, not data quality: on a loaded CI machine the camera can fall to ~15 Hz in the sim graph,
           # which the converter's 10% gap gate (meant for real demonstrations) would exclude
           "--convert-set", "max_gap_fraction=0.6",
           "--train-steps", "3", "--train-set", "val_episodes=0", "--train-set", "batch_size=4",
           "--train-set", "save_every=3", "--train-set", "progress=false",
           "--eval-episodes", "1", "--timeout", "8", "--labels", "hold", "rtc"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]

    data = json.loads((work / "data_summary.json").read_text())
    assert data["mode"] == "record" and data["episodes"] == 1 and Path(data["results"][0]["bag_path"]).is_dir()
    info = json.loads((work / "dataset" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1 and info["total_frames"] > 100
    ckpt = work / "train" / "checkpoints" / "000003"
    assert {"model.safetensors", "config.json", "norm_stats.json"} <= {p.name for p in ckpt.iterdir()}
    # the policy node runs RTC with the max delay the checkpoint was trained with (sim_stage3: 14)
    assert "max delay 14 (from the checkpoint)" in log, log[-4000:]

    rtc = json.loads((work / "eval" / "rtc.json").read_text())
    hold = json.loads((work / "eval" / "hold.json").read_text())
    assert rtc["episodes"] == hold["episodes"] == 1
    assert rtc["results"][0]["seed"] == hold["results"][0]["seed"]
    ep = rtc["results"][0]
    assert not ep["reason"].startswith("error"), ep
    # the policy's actions drove the bridge: ~30 Hz actions, ~50 Hz LowCmd, measured inference latency
    assert ep["action_rate_hz"] > 10 and ep["lowcmd_rate_hz"] > 20, ep
    assert not math.isnan(ep["latency_mean_s"]) and ep["latency_mean_s"] > 0, ep
    # chunk switches seen in the action stream (one per ~15 ticks at 30 Hz) and the motion inside chunks
    assert ep["switches"] >= 3 and ep["seam_jump_max_rad"] >= ep["seam_jump_mean_rad"] >= 0, ep
    assert ep["step_median_rad"] >= 0 and hold["results"][0]["switches"] == 0, (ep, hold)
    assert 0 <= ep["late_switches"] <= ep["switches"], ep   # each switch's prefix length came with its chunk
    assert "| rtc |" in (work / "report.md").read_text() and (work / "success.png").stat().st_size > 0
