"""The trainer's view of a psi0 dataset: a torch Dataset with action chunks (ROS-free).

Item i (a frame of some episode) holds:
  "observation.state"        float32 (32,)      state at frame i
  "action"                   float32 (H, 36)    actions of frames i .. i+H-1
  "action_is_pad"            bool    (H,)       True where i+k ran past the episode end;
                                                 those rows repeat the episode's last action
  "<image key>"              uint8 (h, w, 3) RGB       image_format="uint8_hwc" (default)
                             float32 (3, h, w) in [0,1] image_format="float_chw"
  "task"                     str                language instruction
  "task_index", "episode_index", "frame_index", "index"   int64 scalars
  "timestamp"                float32 scalar (frame_index / fps)

Numeric columns of every episode are loaded into memory at construction
(~270 bytes per frame). Images come from the raw uint8 shards
(`images/<key>/chunk-XXX/file-XXX.npy`, memory-mapped: a random frame costs a
page-cache read, no decoding); datasets written without them fall back to
seeking in the mp4 (correct, ~10-100x slower). Handles are opened lazily, so
the dataset can be used with DataLoader workers (fork or spawn).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from psi0_training.data import layout

IMAGE_FORMATS = ("uint8_hwc", "float_chw")


class DatasetError(ValueError):
    """A dataset directory that is incomplete or inconsistent; the message says what."""


def load_info(root: Path) -> dict:
    path = Path(root) / "meta" / "info.json"
    if not path.is_file():
        raise DatasetError(f"{root}: no meta/info.json (not a psi0/LeRobot v3 dataset, or conversion unfinished)")
    return json.loads(path.read_text())


def load_stats(root: Path) -> dict:
    """meta/stats.json as {feature: {stat: np.ndarray}}."""
    raw = json.loads((Path(root) / "meta" / "stats.json").read_text())
    return {f: {k: np.asarray(v, np.float64) for k, v in s.items()} for f, s in raw.items()}


def _column(table, name: str, dim: int | None = None) -> np.ndarray:
    col = table.column(name).combine_chunks()
    if dim is None:
        return col.to_numpy()
    return np.asarray(col.flatten().to_numpy(), np.float32).reshape(-1, dim)


class Psi0Dataset(Dataset):
    def __init__(self, root: str | Path, action_horizon: int = 30, image_format: str = "uint8_hwc",
                 episodes: list[int] | None = None, load_images: bool = True, image_source: str = "auto"):
        if action_horizon < 1:
            raise ValueError("action_horizon must be >= 1")
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {IMAGE_FORMATS}")
        if image_source not in ("auto", "raw", "video"):
            raise ValueError("image_source must be auto, raw or video")
        self.root = Path(root)
        self.info = load_info(self.root)
        self.fps = int(self.info["fps"])
        self.horizon = action_horizon
        self.image_format = image_format
        self.load_images = load_images
        self.image_key = self.info.get("psi0", {}).get("image_key") or next(
            (k for k, f in self.info["features"].items() if f["dtype"] in ("video", "image")), None)
        eps = pd.read_parquet(self.root / layout.EPISODES_PATH)
        tasks = pd.read_parquet(self.root / "meta" / "tasks.parquet")
        self.tasks = {int(i): str(t) for t, i in zip(tasks.index, tasks["task_index"])}
        if episodes is not None:
            eps = eps[eps["episode_index"].isin(list(episodes))]
            if len(eps) != len(set(episodes)):
                raise DatasetError(f"episodes {sorted(set(episodes) - set(eps['episode_index']))} not in {root}")
        self.episodes = eps.reset_index(drop=True)
        chunk = int(self.info["chunks_size"])
        parts = []
        for e in self.episodes["episode_index"]:
            path = layout.path_of(self.root, self.info["data_path"], int(e), chunk)
            if not path.is_file():
                raise DatasetError(f"{path} missing")
            parts.append(pq.read_table(path))
        sd = self.info["features"]["observation.state"]["shape"][0]
        ad = self.info["features"]["action"]["shape"][0]
        self.state = np.concatenate([_column(t, "observation.state", sd) for t in parts])
        self.action = np.concatenate([_column(t, "action", ad) for t in parts])
        self.episode_index = np.concatenate([_column(t, "episode_index") for t in parts]).astype(np.int64)
        self.frame_index = np.concatenate([_column(t, "frame_index") for t in parts]).astype(np.int64)
        self.index = np.concatenate([_column(t, "index") for t in parts]).astype(np.int64)
        self.task_index = np.concatenate([_column(t, "task_index") for t in parts]).astype(np.int64)
        self.timestamp = np.concatenate([_column(t, "timestamp") for t in parts]).astype(np.float32)
        lengths = np.array([t.num_rows for t in parts])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        # Position of the last frame of each row's episode, in this dataset's arrays.
        self._last = np.repeat(starts + lengths - 1, lengths)
        self._ep_pos = np.repeat(np.arange(len(parts)), lengths)
        self._chunk = chunk
        image_path = self.info.get("psi0", {}).get("image_path")
        if image_source == "raw" and not image_path:
            raise DatasetError(f"{root} has no raw image shards (converted with store_raw_images off)")
        self._use_raw = bool(image_path) and image_source in ("auto", "raw")
        if load_images and self.image_key and not self._use_raw and not self.info.get("video_path"):
            raise DatasetError(f"{root} has neither raw image shards nor videos")
        self._handles: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.state)

    def _image(self, pos: int) -> np.ndarray:
        ep = int(self.episode_index[pos])
        h = self._handles.get(ep)
        if h is None:
            if self._use_raw:
                path = layout.path_of(self.root, self.info["psi0"]["image_path"], ep, self._chunk, self.image_key)
                h = np.load(path, mmap_mode="r")
            else:
                from psi0_training.data.video import VideoReader
                h = VideoReader(layout.path_of(self.root, self.info["video_path"], ep, self._chunk, self.image_key))
            self._handles[ep] = h
        fi = int(self.frame_index[pos])
        return np.array(h[fi]) if self._use_raw else h.frame(fi)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = int(i) % len(self)
        want = i + np.arange(self.horizon)
        last = self._last[i]
        rows = np.minimum(want, last)
        item = {
            "observation.state": torch.from_numpy(self.state[i].copy()),
            "action": torch.from_numpy(self.action[rows]),
            "action_is_pad": torch.from_numpy(want > last),
            "task": self.tasks[int(self.task_index[i])],
            "task_index": torch.tensor(self.task_index[i]),
            "episode_index": torch.tensor(self.episode_index[i]),
            "frame_index": torch.tensor(self.frame_index[i]),
            "index": torch.tensor(self.index[i]),
            "timestamp": torch.tensor(self.timestamp[i]),
        }
        if self.load_images and self.image_key:
            img = self._image(i)
            if self.image_format == "float_chw":
                item[self.image_key] = torch.from_numpy(img).permute(2, 0, 1).float().div_(255.0)
            else:
                item[self.image_key] = torch.from_numpy(img)
        return item

    def __getstate__(self):  # never ship open file handles to workers
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state
