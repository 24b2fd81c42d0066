"""Crop and resize camera images to the policy's input, and keep the intrinsics consistent."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class ImageError(ValueError):
    """An image the camera node cannot use (wrong encoding, size, or crop outside it)."""


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    k: tuple[float, ...]  # row-major 3x3

    def scaled(self, x0: float, y0: float, sx: float, sy: float, width: int, height: int) -> "Intrinsics":
        """After cropping at (x0, y0) and scaling by (sx, sy) (image_proc's convention)."""
        fx, _, cx, _, fy, cy, *_ = self.k
        return Intrinsics(width, height, (fx * sx, 0.0, (cx - x0) * sx, 0.0, fy * sy, (cy - y0) * sy, 0.0, 0.0, 1.0))


def to_rgb(data: bytes | np.ndarray, width: int, height: int, encoding: str, step: int = 0) -> np.ndarray:
    """A ROS Image payload as an (H, W, 3) uint8 RGB array (rgb8, bgr8, rgba8, bgra8)."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}.get(encoding)
    if channels is None:
        raise ImageError(f"unsupported image encoding {encoding!r}; expected rgb8, bgr8, rgba8 or bgra8")
    buf = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    step = step or width * channels
    if step < width * channels or buf.size < step * height:
        raise ImageError(f"image payload of {buf.size} bytes does not hold {height} rows of step {step} "
                         f"for a {width}x{height} {encoding} image")
    img = buf[:step * height].reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    if encoding.startswith("bgr"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


class ImageTransform:
    """Optional crop, then resize or centre-crop-and-resize to (out_h, out_w)."""

    def __init__(self, out_width: int, out_height: int, mode: str = "resize", crop: list[int] | tuple = ()):
        if mode not in ("resize", "crop_resize", "none"):
            raise ValueError(f"unknown resize mode {mode!r}")
        self.out_w, self.out_h, self.mode = out_width, out_height, mode
        self.crop = tuple(crop) if crop and crop[2] > 0 and crop[3] > 0 else None   # zero size = no crop

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The (x, y, w, h) part of a source image that ends up in the output."""
        x, y, w, h = self.crop if self.crop else (0, 0, width, height)
        if x + w > width or y + h > height:
            raise ImageError(f"crop {list(self.crop)} falls outside the {width}x{height} source image")
        if self.mode == "crop_resize":
            target = self.out_w / self.out_h
            if w / h > target:
                nw = int(round(h * target))
                x, w = x + (w - nw) // 2, nw
            else:
                nh = int(round(w / target))
                y, h = y + (h - nh) // 2, nh
        return x, y, w, h

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if self.mode == "none":
            _, _, w, h = self.region(width, height)
            return w, h
        return self.out_w, self.out_h

    def apply(self, image: np.ndarray) -> np.ndarray:
        h0, w0 = image.shape[:2]
        x, y, w, h = self.region(w0, h0)
        out = image[y:y + h, x:x + w]
        ow, oh = self.output_size(w0, h0)
        if (w, h) != (ow, oh):
            interp = cv2.INTER_AREA if ow < w else cv2.INTER_LINEAR
            out = cv2.resize(out, (ow, oh), interpolation=interp)
        return np.ascontiguousarray(out)

    def intrinsics(self, k: Intrinsics) -> Intrinsics:
        x, y, w, h = self.region(k.width, k.height)
        ow, oh = self.output_size(k.width, k.height)
        return k.scaled(x, y, ow / w, oh / h, ow, oh)
