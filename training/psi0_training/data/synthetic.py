"""Synthetic G1 episode bags, written with rosbags, for tests and benchmarks.

Every value is a known function of time, so a test can predict what the
converter must produce: joint q_j(t) = 0.1 j + 0.2 sin(t + j), action_j(t) =
0.01 j + t (t = seconds since the episode start on the header clock), camera
frame k filled with a pattern derived from k. Faults are switched on by the
spec: dropped camera frames, a camera clock jump, missing topics, NaNs, a
frozen camera, and bags without embedded message definitions.
"""
from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from psi0_common import topics
from psi0_training.data.fastpath import field_offset
from psi0_training.data.msgdefs import typestore_for

T0_NS = 1_700_000_000_000_000_000
SYNTH_TYPES = ("unitree_hg/msg/LowState", "unitree_hg/msg/HandState", "psi0_msgs/msg/WholeBodyAction",
               "sensor_msgs/msg/Image", "std_msgs/msg/String")


@dataclass
class SynthSpec:
    duration_s: float = 3.0
    storage: str = "mcap"                 # or "sqlite3"
    camera_hz: float = 30.0
    lowstate_hz: float = 500.0
    hand_hz: float = 100.0
    action_hz: float = 30.0
    image_hw: tuple[int, int] = (480, 640)
    image_encoding: str = "rgb8"
    image_latency_s: float = 0.02         # receive time - header stamp of camera frames
    embed_definitions: bool = True
    legacy_sqlite: bool = False           # sqlite3 only: rewrite as a pre-Iron bag (no definitions table)
    task: str | None = "pick up the red cube"
    operator: str | None = "alice"
    custom: tuple[tuple[str, str], ...] = ()   # more custom_data entries, e.g. (("discarded", "true"),)
    task_in_metadata: bool = True         # custom_data "task" (else only the task topic carries it)
    task_topic: str | None = None         # also publish the task on this std_msgs/String topic
    drop_frames: tuple[int, ...] = ()     # camera frame indices never recorded
    clock_jump: tuple[float, float] | None = None  # (at_s, jump_s): camera header stamps jump
    freeze_frames: tuple[int, int] | None = None   # camera frames [a, b) repeat frame a
    nan_action_frames: tuple[int, ...] = ()
    garbled_action_frames: tuple[int, ...] = ()    # recorded as truncated CDR bytes
    omit_topics: tuple[str, ...] = ()
    start_ns: int = T0_NS
    image_topic: str = topics.IMAGE


def joint_q(j: int, t: np.ndarray | float):
    return 0.1 * j + 0.2 * np.sin(np.asarray(t) + j)


def action_value(t: float) -> np.ndarray:
    return (0.01 * np.arange(36) + t).astype(np.float32)


def frame_pattern(k: int, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (k * 37) % 251
    img[..., 1] = (np.arange(w, dtype=np.int64)[None, :] * 255 // max(w - 1, 1)).astype(np.uint8)
    img[..., 2] = (k * 11) % 256
    return img


class _Patcher:
    """Serialize a template once, then write float fields at fixed offsets (fast synthetic writing)."""

    def __init__(self, store, typename, msg, paths):
        self.raw = bytearray(store.serialize_cdr(msg, typename))
        self.offsets = [4 + field_offset(store, typename, p)[0] for p in paths]

    def bytes(self, values) -> bytes:
        for off, v in zip(self.offsets, values):
            struct.pack_into("<f", self.raw, off, float(v))
        return bytes(self.raw)


def _motor(T, q=0.0):
    return T["unitree_hg/msg/MotorState"](mode=1, q=q, dq=0.0, ddq=0.0, tau_est=0.0,
                                          temperature=np.zeros(2, np.int16), vol=0.0,
                                          sensor=np.zeros(2, np.uint32), motorstate=0,
                                          reserve=np.zeros(4, np.uint32))


def _imu(T):
    z = np.zeros(3, np.float32)
    return T["unitree_hg/msg/IMUState"](quaternion=np.array([1, 0, 0, 0], np.float32), gyroscope=z,
                                        accelerometer=z, rpy=z, temperature=0)


def _stamp(T, ns: int):
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
                                    frame_id="head_camera")


def write_episode(path: Path | str, spec: SynthSpec = SynthSpec()) -> Path:
    """Write one episode bag at `path` (a new directory) and return it."""
    path = Path(path)
    store, _ = typestore_for([], SYNTH_TYPES)
    T = store.types
    plugin = StoragePlugin.MCAP if spec.storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as bag:
        if spec.task is not None and spec.task_in_metadata:
            bag.set_custom_data("task", spec.task)
        if spec.operator is not None:
            bag.set_custom_data("operator", spec.operator)
        for key, value in spec.custom:
            bag.set_custom_data(key, value)

        def conn(topic, typename):
            if spec.embed_definitions:
                return bag.add_connection(topic, typename, typestore=store)
            return bag.add_connection(topic, typename, msgdef="", rihs01=store.hash_rihs01(typename))

        streams = []
        if spec.lowstate_hz and topics.LOWSTATE not in spec.omit_topics:
            streams.append(_lowstate(spec, store, conn(topics.LOWSTATE, "unitree_hg/msg/LowState")))
        for side, off in (("left", 100), ("right", 200)):
            topic = topics.DEX3_STATE[side]
            if spec.hand_hz and topic not in spec.omit_topics:
                streams.append(_hand(spec, store, conn(topic, "unitree_hg/msg/HandState"), off))
        if spec.action_hz and topics.ACTION not in spec.omit_topics:
            streams.append(_actions(spec, store, conn(topics.ACTION, "psi0_msgs/msg/WholeBodyAction")))
        if spec.camera_hz and spec.image_topic not in spec.omit_topics:
            streams.append(_images(spec, store, conn(spec.image_topic, "sensor_msgs/msg/Image")))
        if spec.task_topic:
            c = conn(spec.task_topic, "std_msgs/msg/String")
            m = T["std_msgs/msg/String"](data=spec.task or "")
            streams.append(iter([(spec.start_ns + 500_000, c, bytes(store.serialize_cdr(m, "std_msgs/msg/String")))]))
        # Merged lazily in receive-time order: memory stays flat however long the episode.
        for ns, c, raw in heapq.merge(*streams, key=lambda e: e[0]):
            bag.write(c, ns, raw)
    if spec.legacy_sqlite:
        _make_legacy(path)
    return path


def _make_legacy(path: Path) -> None:
    """Turn a rosbags sqlite3 bag into what Humble-era rosbag2 wrote: schema 3, no message_definitions."""
    import sqlite3

    db = next(path.glob("*.db3"))
    con = sqlite3.connect(db)
    con.execute("DROP TABLE message_definitions")
    con.execute("UPDATE schema SET schema_version = 3")
    con.commit()
    con.close()
    meta = path / "metadata.yaml"
    meta.write_text(meta.read_text().replace("version: 9", "version: 5"))


def _lowstate(spec: SynthSpec, store, c):
    T = store.types
    msg = T["unitree_hg/msg/LowState"](
        version=np.zeros(2, np.uint32), mode_pr=0, mode_machine=5, tick=0, imu_state=_imu(T),
        motor_state=[_motor(T) for _ in range(35)], wireless_remote=np.zeros(40, np.uint8),
        reserve=np.zeros(4, np.uint32), crc=0)
    p = _Patcher(store, "unitree_hg/msg/LowState", msg, [f"motor_state[{i}].q" for i in range(29)])
    for n in range(int(spec.duration_s * spec.lowstate_hz)):
        t = n / spec.lowstate_hz
        yield spec.start_ns + int(t * 1e9) + 1_000_000, c, p.bytes(joint_q(np.arange(29), t))


def _hand(spec: SynthSpec, store, c, off: int):
    T = store.types
    msg = T["unitree_hg/msg/HandState"](
        motor_state=[_motor(T) for _ in range(7)], press_sensor_state=[], imu_state=_imu(T),
        power_v=0.0, power_a=0.0, system_v=0.0, device_v=0.0, error=np.zeros(2, np.uint32),
        reserve=np.zeros(2, np.uint32))
    p = _Patcher(store, "unitree_hg/msg/HandState", msg, [f"motor_state[{i}].q" for i in range(7)])
    for n in range(int(spec.duration_s * spec.hand_hz)):
        t = n / spec.hand_hz
        yield spec.start_ns + int(t * 1e9) + 1_000_000, c, p.bytes(joint_q(off + np.arange(7), t))


def _actions(spec: SynthSpec, store, c):
    T = store.types
    for n in range(int(spec.duration_s * spec.action_hz)):
        t = n / spec.action_hz
        ns = spec.start_ns + int(round(t * 1e9))
        a = action_value(t)
        if n in spec.nan_action_frames:
            a[3] = np.nan
        m = T["psi0_msgs/msg/WholeBodyAction"](header=_stamp(T, ns), source=2, chunk_id=0, chunk_index=0, action=a)
        raw = bytes(store.serialize_cdr(m, "psi0_msgs/msg/WholeBodyAction"))
        yield ns + 2_000_000, c, raw[:40] if n in spec.garbled_action_frames else raw


def _images(spec: SynthSpec, store, c):
    T = store.types
    h, w = spec.image_hw
    chans = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4}[spec.image_encoding]
    for k in range(int(spec.duration_s * spec.camera_hz)):
        if k in spec.drop_frames:
            continue
        t = k / spec.camera_hz
        recv = spec.start_ns + int(round((t + spec.image_latency_s) * 1e9))
        hdr_t = t + (spec.clock_jump[1] if spec.clock_jump and t >= spec.clock_jump[0] else 0.0)
        frozen = spec.freeze_frames and spec.freeze_frames[0] <= k < spec.freeze_frames[1]
        img = frame_pattern(spec.freeze_frames[0] if frozen else k, (h, w))
        if chans == 1:
            img = img[..., :1]
        elif chans == 4:
            img = np.concatenate([img, np.full((h, w, 1), 255, np.uint8)], axis=2)
        if spec.image_encoding == "bgr8":
            img = img[..., ::-1]
        m = T["sensor_msgs/msg/Image"](header=_stamp(T, spec.start_ns + int(round(hdr_t * 1e9))), height=h,
                                       width=w, encoding=spec.image_encoding, is_bigendian=0, step=w * chans,
                                       data=np.ascontiguousarray(img).reshape(-1))
        yield recv, c, bytes(store.serialize_cdr(m, "sensor_msgs/msg/Image"))
