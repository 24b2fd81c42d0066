"""Check a dataset against its own metadata: `psi0 dataset-validate DATASET`.

Every problem is collected (not just the first) so one run shows all of them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from psi0_training.data import layout
from psi0_training.data.dataset import DatasetError, load_info
from psi0_training.data.stats import feature_stats

_ARROW = {"float32": pa.float32(), "int64": pa.int64()}


def _check_schema(schema: pa.Schema, features: dict, where: str, problems: list) -> None:
    for name, f in features.items():
        if f["dtype"] in ("video", "image"):
            continue
        if name not in schema.names:
            problems.append(f"{where}: column {name!r} missing")
            continue
        t = schema.field(name).type
        if f["shape"] == [1]:
            ok = t == _ARROW[f["dtype"]]
        else:
            ok = pa.types.is_fixed_size_list(t) and t.list_size == f["shape"][0] and t.value_type == _ARROW[f["dtype"]]
        if not ok:
            problems.append(f"{where}: column {name!r} has type {t}, info.json says {f['dtype']} {f['shape']}")


def validate_dataset(root: str | Path, check_videos: bool = True, check_stats: bool = True,
                     progress: bool = True) -> list[str]:
    """Problems found (empty list = valid)."""
    root = Path(root)
    try:
        info = load_info(root)
    except DatasetError as exc:
        return [str(exc)]
    problems: list[str] = []
    for rel in ("meta/tasks.parquet", layout.EPISODES_PATH, "meta/stats.json"):
        if not (root / rel).is_file():
            problems.append(f"{rel} missing")
    if problems:
        return problems
    eps = pd.read_parquet(root / layout.EPISODES_PATH).sort_values("episode_index")
    tasks = pd.read_parquet(root / "meta" / "tasks.parquet")
    if list(eps["episode_index"]) != list(range(info["total_episodes"])):
        problems.append(f"episodes are {list(eps['episode_index'])[:10]}..., expected 0..{info['total_episodes'] - 1}")
    if int(eps["length"].sum()) != info["total_frames"]:
        problems.append(f"episode lengths sum to {int(eps['length'].sum())}, info says {info['total_frames']}")
    if len(tasks) != info["total_tasks"] or sorted(tasks["task_index"]) != list(range(len(tasks))):
        problems.append("meta/tasks.parquet does not hold task indices 0..total_tasks-1")
    expected_start = 0
    for _, ep in tqdm(eps.iterrows(), total=len(eps), desc="validate", disable=not progress):
        _check_episode(root, info, tasks, int(ep["episode_index"]), int(ep["length"]), ep, expected_start,
                       check_videos, problems)
        expected_start += int(ep["length"])
    if check_stats and not problems:
        problems += _check_stats(root, info, eps)
    return problems


def _check_episode(root: Path, info: dict, tasks, e: int, n: int, ep, start: int, check_videos: bool,
                   problems: list) -> None:
    where, fps, chunk, feats = f"episode {e}", info["fps"], info["chunks_size"], info["features"]
    if int(ep["dataset_from_index"]) != start or int(ep["dataset_to_index"]) != start + n:
        problems.append(f"{where}: dataset_from/to_index {ep['dataset_from_index']}..{ep['dataset_to_index']}, "
                        f"expected {start}..{start + n}")
    path = layout.path_of(root, info["data_path"], e, chunk)
    if not path.is_file():
        problems.append(f"{where}: {path.relative_to(root)} missing")
        return
    t = pq.read_table(path)
    _check_schema(t.schema, feats, where, problems)
    if t.num_rows != n:
        problems.append(f"{where}: {t.num_rows} rows, episodes parquet says {n}")
    fi = t["frame_index"].to_numpy()
    if not np.array_equal(fi, np.arange(t.num_rows)):
        problems.append(f"{where}: frame_index is not 0..{t.num_rows - 1}")
    if not np.array_equal(t["index"].to_numpy(), start + np.arange(t.num_rows)):
        problems.append(f"{where}: global index not contiguous from {start}")
    if not (t["episode_index"].to_numpy() == e).all():
        problems.append(f"{where}: episode_index column disagrees")
    if np.abs(t["timestamp"].to_numpy() - fi / fps).max(initial=0) > 1e-4:
        problems.append(f"{where}: timestamps are not frame_index / fps")
    ti = set(np.unique(t["task_index"].to_numpy()).tolist())
    if not ti <= set(tasks["task_index"].tolist()):
        problems.append(f"{where}: task_index {sorted(ti)} not in meta/tasks.parquet")
    for name in ("observation.state", "action"):
        if name in t.schema.names and not np.isfinite(np.asarray(t[name].combine_chunks().flatten().to_numpy())).all():
            problems.append(f"{where}: {name} has NaN/inf")
    _check_images(root, info, e, n, check_videos, where, problems)


def _check_images(root: Path, info: dict, e: int, n: int, check_videos: bool, where: str, problems: list) -> None:
    vkey, chunk, fps = info.get("psi0", {}).get("image_key"), info["chunks_size"], info["fps"]
    if not vkey or vkey not in info["features"]:
        return
    h, w = info["features"][vkey]["shape"][:2]
    if info.get("psi0", {}).get("image_path"):
        ipath = layout.path_of(root, info["psi0"]["image_path"], e, chunk, vkey)
        if not ipath.is_file():
            problems.append(f"{where}: {ipath.relative_to(root)} missing")
        else:
            arr = np.load(ipath, mmap_mode="r")
            if arr.shape != (n, h, w, 3) or arr.dtype != np.uint8:
                problems.append(f"{where}: image shard {arr.shape} {arr.dtype}, expected ({n}, {h}, {w}, 3) uint8")
    if info.get("video_path") and check_videos:
        from psi0_training.data.video import probe
        vpath = layout.path_of(root, info["video_path"], e, chunk, vkey)
        if not vpath.is_file():
            problems.append(f"{where}: {vpath.relative_to(root)} missing")
            return
        p = probe(vpath)
        if p["frames"] != n or (p["height"], p["width"]) != (h, w):
            problems.append(f"{where}: video has {p['frames']} frames {p['width']}x{p['height']}, expected {n} {w}x{h}")
        elif np.abs(np.asarray(p["times"]) - np.arange(n) / fps).max(initial=0) > 0.5 / fps:
            problems.append(f"{where}: video frame times are not i / fps")


def _check_stats(root: Path, info: dict, eps) -> list[str]:
    stored = json.loads((root / "meta" / "stats.json").read_text())
    problems = []
    for name in ("observation.state", "action"):
        dim = info["features"][name]["shape"][0]

        def arrays(name=name, dim=dim):
            for e in eps["episode_index"]:
                t = pq.read_table(layout.path_of(root, info["data_path"], int(e), info["chunks_size"]), columns=[name])
                yield np.asarray(t[name].combine_chunks().flatten().to_numpy()).reshape(-1, dim)

        fresh = feature_stats(arrays(), dim, info["total_frames"], root)
        for k, v in fresh.items():
            if k not in stored.get(name, {}):
                problems.append(f"stats.json: {name}.{k} missing")
            elif not np.allclose(np.asarray(stored[name][k], np.float64), v, rtol=1e-9, atol=1e-12):
                problems.append(f"stats.json: {name}.{k} does not match the data")
    return problems
