"""One pass over a bag: every topic the dataset needs, as time-stamped arrays.

Numeric streams become small arrays in memory (a minute of 500 Hz LowState is
~4 MB). Camera frames are decoded, converted to RGB, resized to the training
resolution and appended to a scratch file on disk as they arrive, so memory
stays flat in the episode length.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Reader
from tqdm import tqdm

from psi0_common import g1
from psi0_training.data.bagio import BagError, BagInfo
from psi0_training.data.config import ConvertConfig
from psi0_training.data.fastpath import FieldReader, Unsupported
from psi0_training.data.msgdefs import typestore_for

# LowState motors kept: waist (12-14) and both arms (15-28).
LOWSTATE_MOTORS = list(range(g1.WAIST.start, g1.RIGHT_ARM.stop))
EXPECTED_TYPES = {
    "image": "sensor_msgs/msg/Image",
    "action": "psi0_msgs/msg/WholeBodyAction",
    "lowstate": "unitree_hg/msg/LowState",
    "left_hand": "unitree_hg/msg/HandState",
    "right_hand": "unitree_hg/msg/HandState",
    "task": "std_msgs/msg/String",
}


@dataclass
class Stream:
    """Samples of one feature in arrival order (compact arrays: 8 bytes per number)."""

    topic: str
    recv_ns: array = field(default_factory=lambda: array("q"))
    header_ns: array | None = None       # None for messages without a header
    values: array = field(default_factory=lambda: array("d"))   # flattened, `dim` per sample
    bad_messages: int = 0                # undecodable or wrong-sized messages (skipped)
    bad_reason: str = ""

    def reject(self, reason: str):
        self.bad_messages += 1
        self.bad_reason = self.bad_reason or reason


@dataclass
class Extracted:
    streams: dict[str, Stream]
    frames_path: Path                    # (n, H, W, 3) uint8 raw, arrival order
    frame_diff: array                    # mean abs difference to the previous frame (arrival order)
    task_messages: list
    type_sources: dict
    missing: list                        # feature names whose topic is absent or empty
    topic_counts: dict


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def decode_image(msg, height: int, width: int) -> np.ndarray:
    """sensor_msgs/Image -> (height, width, 3) uint8 RGB; raises ValueError on what it cannot read."""
    enc = msg.encoding.lower()
    chans = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3}.get(enc)
    if chans is None:
        raise ValueError(f"image encoding {msg.encoding!r} not supported (rgb8, bgr8, rgba8, bgra8, mono8)")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, np.uint8)
    if h <= 0 or w <= 0 or step < w * chans or data.size < h * step:
        raise ValueError(f"image {w}x{h} step {step} does not fit its {data.size} data bytes")
    img = data[: h * step].reshape(h, step)[:, : w * chans].reshape(h, w, chans)
    if enc in ("bgr8", "8uc3"):
        img = img[..., ::-1]
    elif enc == "bgra8":
        img = img[..., 2::-1]
    elif enc == "rgba8":
        img = img[..., :3]
    elif chans == 1:
        img = np.repeat(img, 3, axis=2)
    if (h, w) != (height, width):
        interp = cv2.INTER_AREA if h >= height and w >= width else cv2.INTER_LINEAR
        img = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)
    return np.ascontiguousarray(img)


class _Joints:
    """Scalar joint fields of one unitree topic: fixed-offset fast path, verified, with full decoding as fallback."""

    def __init__(self, store, typename: str, paths: list[str]):
        self.store, self.typename, self.paths = store, typename, paths
        try:
            self.fast = FieldReader(store, typename, paths)
        except Unsupported:
            self.fast = None
        self.verified = False

    def read(self, raw) -> tuple:
        if self.fast is not None:
            if not self.verified:
                self.verified = self.fast.verify(self.store, raw)
                if not self.verified:
                    self.fast = None
            if self.fast is not None:
                vals = self.fast.read(raw)
                if vals is not None:
                    return vals
        msg = self.store.deserialize_cdr(raw, self.typename)
        motors = msg.motor_state
        idx = [int(p.split("[")[1].split("]")[0]) for p in self.paths]
        if len(motors) <= max(idx):
            raise ValueError(f"{len(motors)} motor states, need {max(idx) + 1}")
        return tuple(float(motors[i].q) for i in idx)


class _Collector:
    """Turns each raw message into samples of its feature's stream."""

    def __init__(self, store, cfg: ConvertConfig, topic_of: dict, frames_out):
        self.store, self.cfg, self.frames_out = store, cfg, frames_out
        self.streams = {f: Stream(topic_of[f], header_ns=array("q") if f in ("image", "action") else None)
                        for f in ("image", "action", "lowstate", "left_hand", "right_hand")}
        hand = _Joints(store, EXPECTED_TYPES["left_hand"], [f"motor_state[{i}].q" for i in range(g1.NUM_HAND)])
        self.joints = {"lowstate": _Joints(store, EXPECTED_TYPES["lowstate"],
                                           [f"motor_state[{i}].q" for i in LOWSTATE_MOTORS]),
                       "left_hand": hand, "right_hand": hand}
        self.tasks: list[str] = []
        self.diffs = array("d")
        self._prev_small = None

    def add(self, feature: str, msgtype: str, recv: int, raw) -> None:
        if feature == "task":
            try:
                self.tasks.append(str(self.store.deserialize_cdr(raw, msgtype).data))
            except Exception:  # noqa: BLE001 - a garbled task message is as good as none
                pass
            return
        s = self.streams[feature]
        try:
            if feature in self.joints:
                s.values.extend(self.joints[feature].read(raw))
                s.recv_ns.append(recv)
                return
            msg = self.store.deserialize_cdr(raw, msgtype)
            if feature == "action":
                a = np.asarray(msg.action, np.float64)
                if a.shape != (36,):
                    raise ValueError(f"action has {a.size} values, expected 36")
                s.values.frombytes(a.tobytes())
            else:
                self._frame(decode_image(msg, self.cfg.image_height, self.cfg.image_width))
            s.header_ns.append(_stamp_ns(msg.header))
            s.recv_ns.append(recv)
        except Exception as exc:  # noqa: BLE001 - one bad message must not sink the episode
            s.reject(f"{type(exc).__name__}: {exc}")

    def _frame(self, img: np.ndarray) -> None:
        small = img[::4, ::4].astype(np.int16)
        prev, self._prev_small = self._prev_small, small
        self.diffs.append(np.inf if prev is None else float(np.abs(small - prev).mean()))
        self.frames_out.write(img.tobytes())


def _open(info: BagInfo) -> Reader:
    try:
        reader = Reader(info.path)
        reader.open()
        return reader
    except Exception as exc:  # noqa: BLE001
        hint = " - a truncated recording? `mcap recover` can salvage MCAP files" if "magic" in str(exc) else ""
        raise BagError(f"{info.path}: cannot open ({type(exc).__name__}: {exc}){hint}") from None


def extract(info: BagInfo, cfg: ConvertConfig, scratch: Path, progress: bool = False) -> Extracted:
    topic_of = {"image": cfg.image_topic, "action": cfg.action_topic, "lowstate": cfg.lowstate_topic,
                "left_hand": cfg.left_hand_topic, "right_hand": cfg.right_hand_topic, "task": cfg.task_topic}
    feature_of = {t: f for f, t in topic_of.items()}
    reader = _open(info)
    frames_path = scratch / "frames.raw"
    try:
        conns = [c for c in reader.connections if c.topic in feature_of]
        for c in conns:
            want = EXPECTED_TYPES[feature_of[c.topic]]
            if c.msgtype != want:
                raise BagError(f"{info.path}: topic {c.topic} has type {c.msgtype}, expected {want}")
        store, type_sources = typestore_for(conns)
        undecodable = [c.topic for c in conns if type_sources.get(c.msgtype, "").endswith("missing")]
        if undecodable:
            raise BagError(f"{info.path}: no message definition for {', '.join(undecodable)}")
        total = sum(c.msgcount for c in conns)
        with open(frames_path, "wb") as frames_out, \
                tqdm(total=total, desc=info.path.name[:24], unit="msg", disable=not progress, leave=False,
                     mininterval=0.5) as bar:
            col = _Collector(store, cfg, topic_of, frames_out)
            for n, (conn, recv, raw) in enumerate(reader.messages(connections=conns)):
                if n and n % 2048 == 0:
                    bar.update(2048)
                col.add(feature_of[conn.topic], conn.msgtype, recv, raw)
            bar.update(max(0, total - bar.n))
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt storage surfaces here
        raise BagError(f"{info.path}: unreadable ({type(exc).__name__}: {exc})") from None
    finally:
        reader.close()
    counts = {c.topic: c.msgcount for c in conns}
    missing = [f for f, s in col.streams.items() if not s.recv_ns]
    return Extracted(col.streams, frames_path, col.diffs, col.tasks, type_sources, missing, counts)
