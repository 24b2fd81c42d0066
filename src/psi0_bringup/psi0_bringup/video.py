"""Append RGB frames to an MP4 (H.264 via imageio-ffmpeg's bundled ffmpeg), ROS-free."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np


class VideoWriter:
    """Thread-safe frame sink; frames of another size than the first are resized by nearest neighbour."""

    def __init__(self, path: str | Path, fps: int = 30):
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = imageio.get_writer(str(self.path), fps=fps, codec="libx264", quality=6,
                                          macro_block_size=8, ffmpeg_log_level="error")
        self._shape: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB frame, got shape {frame.shape}")
        with self._lock:
            if self._writer is None:
                return
            if self._shape is None:
                self._shape = frame.shape[:2]
            elif frame.shape[:2] != self._shape:
                rows = np.linspace(0, frame.shape[0] - 1, self._shape[0]).astype(int)
                cols = np.linspace(0, frame.shape[1] - 1, self._shape[1]).astype(int)
                frame = frame[rows][:, cols]
            self._writer.append_data(np.ascontiguousarray(frame, dtype=np.uint8))
            self.frames += 1

    def close(self) -> int:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        return self.frames
