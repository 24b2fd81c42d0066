"""`psi0 eval-offline`: a real (tiny, randomly initialised) checkpoint run on a synthetic bag."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("psi0_policy.model.policy")
pytestmark = pytest.mark.slow


def test_eval_offline_writes_plot_and_errors(bag_dir, tmp_path):
    from psi0_bringup.cli import main
    from psi0_policy.model.checkpoint import save_checkpoint
    from psi0_policy.model.policy import ChunkPolicy

    pol = ChunkPolicy.random("tiny", seed=0)
    ckpt = save_checkpoint(tmp_path / "ckpt", pol.model, pol.norm, pol.processor)
    out = tmp_path / "eval"
    rc = main(["eval-offline", str(ckpt), str(bag_dir / "mcap_ok"), "--out", str(out), "--stride", "20",
               "--max-chunks", "2"])
    assert rc == 0
    res = json.loads((out / "errors.json").read_text())
    assert res["frames_compared"] == 40 and set(res["groups"]) >= {"left_hand", "torso_rpy", "yaw"}
    pred = np.load(out / "predictions.npz")
    diff = pred["predicted"][:40] - pred["recorded"][:40]
    assert res["overall"]["mae"] == pytest.approx(np.abs(diff).mean())
    assert np.isnan(pred["predicted"][40:]).all()
    png = (out / "actions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert main(["eval-offline", str(ckpt), str(bag_dir / "mcap_corrupt"), "--out", str(out)]) == 2
