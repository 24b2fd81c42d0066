"""Run a policy on a bag's observations and compare its actions with the recorded ones (ROS-free).

The bag goes through the converter's own pipeline (same grid, state layout and
image resize as training data, quality thresholds not applied), then every
`stride` frames the policy sees (image, state, task) and predicts a chunk; its
first `stride` actions are laid end to end (open loop, like the runtime
executing s_min steps of each chunk) and compared with the recorded actions.
Outputs: a PNG per run with one panel per joint group (recorded solid,
predicted dashed) and errors.json (MAE / RMSE per group and per joint).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from psi0_common import action_layout as al
from psi0_training.data.bagio import inspect_bag
from psi0_training.data.config import ConvertConfig, QualityThresholds
from psi0_training.data.episode import convert_episode


def load_bag_episode(bag, cfg: ConvertConfig = ConvertConfig()) -> dict:
    """Grid-aligned arrays of one bag: state (T,32), action (T,36), frames (T,H,W,3) uint8, task, report."""
    cfg = replace(cfg, store_video=False, store_raw_images=True)
    with tempfile.TemporaryDirectory(prefix="psi0_eval_") as tmp:
        report = convert_episode(inspect_bag(bag), cfg, QualityThresholds(), Path(tmp))
        if report.get("quality") is None:
            raise ValueError(f"{bag}: cannot be put on a grid: {'; '.join(report['exclusion_reasons'])}")
        d = Path(report["episode_dir"])
        with np.load(d / "episode.npz") as npz:
            out = {"state": npz["state"].astype(np.float64), "action": npz["action"].astype(np.float64)}
        out["frames"] = np.load(d / "frames.npy")
    out.update(task=report["task"], report=report)
    return out


def predict_open_loop(policy, ep: dict, stride: int, max_chunks: int | None = None, task: str | None = None,
                      progress: bool = True) -> np.ndarray:
    """(T, 36) predictions, NaN where no chunk covered the frame."""
    from psi0_policy.model.policy import Observation

    n = len(ep["action"])
    pred = np.full((n, al.ACTION_DIM), np.nan)
    starts = list(range(0, n, stride))[: max_chunks or None]
    for i in tqdm(starts, desc="inference", unit="chunk", disable=not progress):
        obs = Observation(image=ep["frames"][i], state=ep["state"][i], task=task or ep["task"])
        chunk = np.asarray(policy.unnormalize(policy.infer(obs)))
        k = min(stride, len(chunk), n - i)
        pred[i:i + k] = chunk[:k, : al.ACTION_DIM]
    return pred


def errors(pred: np.ndarray, rec: np.ndarray) -> dict:
    ok = ~np.isnan(pred).any(1)
    diff = pred[ok] - rec[ok]
    names = al.action_names()
    out = {"frames_compared": int(ok.sum()), "groups": {}, "joints": {}}
    for g, sl in al.ACTION_GROUPS.items():
        d = diff[:, sl]
        out["groups"][g] = {"mae": float(np.abs(d).mean()), "rmse": float(np.sqrt((d ** 2).mean()))}
    for j, name in enumerate(names):
        out["joints"][name] = {"mae": float(np.abs(diff[:, j]).mean()), "rmse": float(np.sqrt((diff[:, j] ** 2).mean()))}
    out["overall"] = {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff ** 2).mean()))}
    return out


def plot(pred: np.ndarray, rec: np.ndarray, fps: int, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(al.ACTION_GROUPS.items())
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 2.2 * len(groups)), sharex=True)
    t = np.arange(len(rec)) / fps
    names = al.action_names()
    for ax, (g, sl) in zip(axes, groups):
        for j in range(sl.start, sl.stop):
            line, = ax.plot(t, rec[:, j], lw=1.2, label=names[j])
            ax.plot(t, pred[:, j], lw=1.0, ls="--", color=line.get_color())
        ax.set_ylabel(g, rotation=0, ha="right", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (s); solid = recorded, dashed = predicted")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate(checkpoint, bag, out: Path, stride: int = 15, max_chunks: int | None = None,
             cfg: ConvertConfig = ConvertConfig(), policy=None, progress: bool = True) -> dict:
    if policy is None:
        from psi0_policy.model.policy import ChunkPolicy
        policy = ChunkPolicy.from_checkpoint(checkpoint)
    ep = load_bag_episode(bag, cfg)
    pred = predict_open_loop(policy, ep, stride, max_chunks, progress=progress)
    res = errors(pred, ep["action"])
    res.update(checkpoint=str(checkpoint), bag=str(bag), task=ep["task"], stride=stride, fps=cfg.fps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot(pred, ep["action"], cfg.fps, out / "actions.png",
         f"{Path(str(checkpoint)).name} on {Path(bag).name}: overall MAE {res['overall']['mae']:.4f}")
    np.savez(out / "predictions.npz", predicted=pred, recorded=ep["action"], state=ep["state"])
    (out / "errors.json").write_text(json.dumps(res, indent=1))
    return res
