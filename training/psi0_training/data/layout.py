"""Paths and feature declarations of a psi0 dataset (LeRobot v3 layout)."""
from __future__ import annotations

from pathlib import Path

from psi0_common import action_layout as al

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
# psi0 addition: raw uint8 frames (frames, H, W, 3) for fast random access in training.
IMAGE_PATH = "images/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.npy"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"


def chunk_file(episode_index: int, chunk_size: int) -> tuple[int, int]:
    """One episode per file: episode e lives in chunk e // chunk_size, file e % chunk_size."""
    return episode_index // chunk_size, episode_index % chunk_size


def path_of(root: Path, template: str, episode_index: int, chunk_size: int, video_key: str = "") -> Path:
    c, f = chunk_file(episode_index, chunk_size)
    return root / template.format(chunk_index=c, file_index=f, video_key=video_key)


def features(image_key: str, height: int, width: int, fps: int, video: bool) -> dict:
    scalar = {"shape": [1], "names": None}
    return {
        "observation.state": {"dtype": "float32", "shape": [al.STATE_DIM], "names": al.state_names()},
        "action": {"dtype": "float32", "shape": [al.ACTION_DIM], "names": al.action_names()},
        image_key: {"dtype": "video" if video else "image", "shape": [height, width, 3],
                    "names": ["height", "width", "channels"],
                    "info": {"video.height": height, "video.width": width, "video.codec": "h264",
                             "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": fps,
                             "video.channels": 3, "has_audio": False}},
        "timestamp": {"dtype": "float32", **scalar},
        "frame_index": {"dtype": "int64", **scalar},
        "episode_index": {"dtype": "int64", **scalar},
        "index": {"dtype": "int64", **scalar},
        "task_index": {"dtype": "int64", **scalar},
        "source_time_ns": {"dtype": "int64", **scalar},
    }
