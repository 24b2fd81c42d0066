"""H.264 mp4 episodes with PyAV: frame i at pts i / fps (LeRobot convention), random-access decoding."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    def __init__(self, path: Path, fps: int, height: int, width: int, crf: int = 20, gop: int = 10,
                 preset: str = "ultrafast"):
        self.container = av.open(str(path), mode="w")
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, fps)
        # No B-frames: decode order = presentation order, which keeps seeking simple and exact.
        self.stream.options = {"crf": str(crf), "g": str(gop), "bf": "0", "preset": preset}
        self.n = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.n
        self.n += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def probe(path: Path) -> dict:
    """Frame count, size, fps and presentation times (s) of the first video stream, without decoding."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(s) if p.pts is not None)
        return {"frames": len(pts), "width": s.codec_context.width, "height": s.codec_context.height,
                "fps": float(s.average_rate) if s.average_rate else None, "codec": s.codec_context.name,
                "times": [float(p * s.time_base) for p in pts]}


class VideoReader:
    """Random access to frames of one mp4 by index (seek to the keyframe before, decode forward)."""

    def __init__(self, path: Path):
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        # Single-threaded decoding: decoder threads left in a process that later forks (DataLoader
        # workers) deadlock the child when it tears the container down.
        self.stream.thread_count = 1
        self.fps = float(self.stream.average_rate)
        self._next = None   # frame index the decoder will produce next without seeking
        self._frames = None

    def frame(self, index: int) -> np.ndarray:
        tb = self.stream.time_base
        target = int(round(index / self.fps / tb))
        if self._next is None or index < self._next or index > self._next + 30:
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
            self._frames = self.container.decode(self.stream)
        for frame in self._frames:
            if frame.pts is None or frame.pts < target:
                continue
            self._next = index + 1
            return frame.to_ndarray(format="rgb24")
        raise IndexError(f"frame {index} not in {self.container.name}")

    def close(self):
        self.container.close()
