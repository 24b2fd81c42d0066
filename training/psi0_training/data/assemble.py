"""Assemble converted episodes into the dataset directory, atomically.

Everything is built in `<out>.tmp-<pid>` next to the output (episode files
hard-linked from the work directory when the filesystem allows, so an
interrupted assembly loses nothing), then renamed into place.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from psi0_common import action_layout as al
from psi0_training.data import layout
from psi0_training.data.config import ConvertConfig, QualityThresholds, config_dict, config_hash
from psi0_training.data.stats import feature_stats, image_stats


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("psi0-training", "rosbags", "numpy", "pyarrow", "av", "opencv-python-headless"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def fixed_list(arr: np.ndarray) -> pa.Array:
    arr = np.ascontiguousarray(arr, np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])


def episode_table(ep: dict, npz, episode_index: int, start: int, task_index: int, fps: int) -> pa.Table:
    n = len(npz["state"])
    frame = np.arange(n, dtype=np.int64)
    return pa.table({
        "observation.state": fixed_list(npz["state"]),
        "action": fixed_list(npz["action"]),
        "timestamp": pa.array((frame / fps).astype(np.float32)),
        "frame_index": pa.array(frame),
        "episode_index": pa.array(np.full(n, episode_index, np.int64)),
        "index": pa.array(start + frame),
        "task_index": pa.array(np.full(n, task_index, np.int64)),
        "source_time_ns": pa.array(np.asarray(npz["source_time_ns"], np.int64)),
    })


def assemble(out: Path, reports: list[dict], skipped: list[dict], cfg: ConvertConfig, th: QualityThresholds,
             overwrite: bool) -> dict:
    out = Path(out).resolve()
    included = [r for r in reports if r["included"]]
    if not included:
        raise RuntimeError("no episode passed the quality checks; nothing to write (see the reasons above)")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "meta").mkdir(parents=True)
    try:
        summary = _write(tmp, included, reports, skipped, cfg, th)
        if out.exists():
            if not overwrite:
                raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _write(root: Path, included, reports, skipped, cfg: ConvertConfig, th: QualityThresholds) -> dict:
    tasks: dict[str, int] = {}
    for r in included:
        tasks.setdefault(r["task"], len(tasks))
    rows, hist, start = _write_episodes(root, included, tasks, cfg)
    vkey = cfg.image_key
    (root / layout.EPISODES_PATH).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(root / layout.EPISODES_PATH, index=False)
    pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task")) \
        .to_parquet(root / "meta" / "tasks.parquet")
    _dump(root / "meta" / "stats.json", _stats(root, included, start, hist, vkey))
    info = {
        "codebase_version": layout.CODEBASE_VERSION, "robot_type": "unitree_g1_dex3",
        "total_episodes": len(included), "total_frames": start, "total_tasks": len(tasks),
        "chunks_size": cfg.chunk_size, "fps": cfg.fps, "splits": {"train": f"0:{len(included)}"},
        "data_path": layout.DATA_PATH, "video_path": layout.VIDEO_PATH if cfg.store_video else None,
        "features": layout.features(vkey, cfg.image_height, cfg.image_width, cfg.fps, cfg.store_video),
        "psi0": {"image_path": layout.IMAGE_PATH if cfg.store_raw_images else None, "image_key": vkey,
                 "state_layout": "14 hand q (Dex3 left, right), 14 arm q (lowstate motors 15-28), torso "
                                 "roll/pitch/yaw (waist motors 13, 14, 12), base height (= commanded action[31])",
                 "action_layout": "psi0_common.action_layout (36-D)"},
    }
    _dump(root / "meta" / "info.json", info)
    quality = {"thresholds": config_dict(cfg, th)["quality"],
               "included": [_brief(r) for r in included],
               "excluded": [_brief(r) for r in reports if not r["included"]],
               "skipped": skipped}
    _dump(root / "meta" / "quality.json", quality)
    provenance = {"created_unix": time.time(), "converter": "psi0_training.data (psi0 convert)",
                  "config": config_dict(cfg, th), "config_hash": config_hash(cfg), "versions": _versions(),
                  "sources": [{"path": r["source"], "sha256": r["sha256"], "size_bytes": r["size_bytes"],
                               "storage": r["storage"], "type_sources": r["type_sources"],
                               "status": "included" if r["included"] else "excluded"} for r in reports]
                  + [{"path": s["source"], "sha256": s.get("sha256"), "status": "skipped"} for s in skipped]}
    _dump(root / "meta" / "provenance.json", provenance)
    return {"episodes": len(included), "frames": start, "tasks": len(tasks),
            "excluded": len(reports) - len(included), "skipped": len(skipped)}


def _stats(root: Path, included, total: int, hist: np.ndarray, vkey: str) -> dict:
    def column(name):  # one episode in memory at a time
        for r in included:
            with np.load(Path(r["episode_dir"]) / "episode.npz") as npz:
                yield npz[name]

    return {"observation.state": feature_stats(column("state"), al.STATE_DIM, total, root),
            "action": feature_stats(column("action"), al.ACTION_DIM, total, root),
            vkey: image_stats(hist)}


def _write_episodes(root: Path, included, tasks: dict, cfg: ConvertConfig):
    """Per-episode files into place; returns (episodes rows, summed image histograms, total frames)."""
    rows, hist, start, vkey = [], np.zeros((3, 256), np.int64), 0, cfg.image_key
    for e, r in enumerate(included):
        d = Path(r["episode_dir"])
        with np.load(d / "episode.npz") as npz:
            table = episode_table(r, npz, e, start, tasks[r["task"]], cfg.fps)
            hist += npz["image_hist"]
        path = layout.path_of(root, layout.DATA_PATH, e, cfg.chunk_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        n = table.num_rows
        c, f = layout.chunk_file(e, cfg.chunk_size)
        row = {"episode_index": e, "tasks": [r["task"]], "length": n,
               "data/chunk_index": c, "data/file_index": f,
               "dataset_from_index": start, "dataset_to_index": start + n,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
               "source_bag": r["source"], "source_sha256": r["sha256"], "operator": r["operator"]}
        if cfg.store_video:
            _link(d / "video.mp4", layout.path_of(root, layout.VIDEO_PATH, e, cfg.chunk_size, vkey))
            row.update({f"videos/{vkey}/chunk_index": c, f"videos/{vkey}/file_index": f,
                        f"videos/{vkey}/from_timestamp": 0.0, f"videos/{vkey}/to_timestamp": n / cfg.fps})
        if cfg.store_raw_images:
            _link(d / "frames.npy", layout.path_of(root, layout.IMAGE_PATH, e, cfg.chunk_size, vkey))
        rows.append(row)
        start += n
    return rows, hist, start


def _brief(r: dict) -> dict:
    keys = ("source", "sha256", "task", "task_source", "operator", "missing_topics", "exclusion_reasons", "quality",
            "trimmed", "convert_seconds")
    return {k: r.get(k) for k in keys}


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False, default=_default))


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
