"""Image sources of the camera node that do not come over ROS: RealSense and rosbag2.

(The `sim` source is a ROS subscription, handled in camera_node.py.)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from psi0_policy.camera.transform import Intrinsics, to_rgb

IMAGE_TYPE = "sensor_msgs/msg/Image"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"


class CameraError(RuntimeError):
    """A camera source that cannot run; the message says which device/file and why."""


@dataclass
class CapturedFrame:
    image: np.ndarray        # (H, W, 3) uint8 RGB
    stamp_ns: int            # capture time (ns since the epoch)
    frame_id: str
    intrinsics: Intrinsics | None = None


class RealSenseSource:
    """Colour stream of an Intel RealSense (the G1's head D435i) through pyrealsense2."""

    def __init__(self, serial: str = "", width: int = 640, height: int = 480, fps: int = 30,
                 frame_id: str = "head_camera_color_optical_frame"):
        wanted = f"RealSense with serial {serial}" if serial else "any Intel RealSense camera (head D435i)"
        try:
            import pyrealsense2 as rs
        except ImportError as exc:
            raise CameraError(f"realsense source: cannot look for {wanted}: pyrealsense2 cannot be loaded ({exc}); "
                              "install pyrealsense2 and its libusb-1.0 runtime, or use source:=sim / source:=bag") from exc
        self._rs = rs
        devices = list(rs.context().query_devices())
        serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
        if not devices:
            raise CameraError(f"realsense source: no Intel RealSense device connected (wanted {wanted}); "
                              "check the USB3 cable and `rs-enumerate-devices`")
        if serial and serial not in serials:
            raise CameraError(f"realsense source: {wanted} is not connected; connected: {', '.join(serials)}")
        cfg = rs.config()
        if serial:
            cfg.enable_device(serial)
        cfg.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        self.pipeline = rs.pipeline()
        try:
            profile = self.pipeline.start(cfg)
        except RuntimeError as exc:
            raise CameraError(f"realsense source: cannot start {width}x{height}@{fps} colour on {wanted}: {exc}") from exc
        intr = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self.intrinsics = Intrinsics(intr.width, intr.height, (intr.fx, 0.0, intr.ppx, 0.0, intr.fy, intr.ppy,
                                                               0.0, 0.0, 1.0))
        self.frame_id = frame_id

    def read(self, timeout_ms: int = 1000) -> CapturedFrame:
        rs = self._rs
        frames = self.pipeline.wait_for_frames(timeout_ms)
        color = frames.get_color_frame()
        domain = color.get_frame_timestamp_domain()
        if domain in (rs.timestamp_domain.global_time, rs.timestamp_domain.system_time):
            stamp = int(color.get_timestamp() * 1e6)   # ms since the epoch on the host clock
        else:
            stamp = time.time_ns()                      # hardware clock only: receipt time is the best guess
        image = np.asanyarray(color.get_data()).copy()
        return CapturedFrame(image, stamp, self.frame_id, self.intrinsics)

    def close(self) -> None:
        self.pipeline.stop()


class BagSource:
    """sensor_msgs/Image frames of one topic of a rosbag2 (sqlite3 or mcap), read with `rosbags`."""

    def __init__(self, path: str, topic: str = ""):
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if not self.path.exists():
            raise CameraError(f"bag source: {self.path} does not exist")
        bag_dir = self.path if self.path.is_dir() else self.path.parent
        try:
            self._reader = AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
            self._reader.open()
        except Exception as exc:
            raise CameraError(f"bag source: cannot open {bag_dir} as a rosbag2: {exc}") from exc
        images = sorted({c.topic for c in self._reader.connections if c.msgtype == IMAGE_TYPE})
        if topic:
            conns = [c for c in self._reader.connections if c.topic == topic]
            if not conns:
                raise CameraError(f"bag source: topic {topic!r} is not in {bag_dir}; image topics: {images}")
            if conns[0].msgtype != IMAGE_TYPE:
                raise CameraError(f"bag source: topic {topic!r} holds {conns[0].msgtype}, not {IMAGE_TYPE}")
        elif len(images) == 1:
            topic = images[0]
        else:
            raise CameraError(f"bag source: {bag_dir} has {len(images)} image topics {images}; set bag_topic")
        self.topic = topic
        self._conns = [c for c in self._reader.connections if c.topic == topic]
        self._info_conns = [c for c in self._reader.connections if c.msgtype == INFO_TYPE
                            and c.topic.rsplit("/", 1)[0] == topic.rsplit("/", 1)[0]]
        self.count = sum(c.msgcount for c in self._conns)
        if self.count == 0:
            raise CameraError(f"bag source: topic {topic!r} of {bag_dir} has no messages")
        self.intrinsics = self._first_intrinsics()

    def _first_intrinsics(self) -> Intrinsics | None:
        if not self._info_conns:      # (an empty connection list would mean "every topic")
            return None
        for conn, _, raw in self._reader.messages(connections=self._info_conns):
            msg = self._reader.deserialize(raw, conn.msgtype)
            return Intrinsics(int(msg.width), int(msg.height), tuple(float(v) for v in msg.k))
        return None

    def frames(self) -> Iterator[tuple[int, CapturedFrame]]:
        """(bag receive time ns, frame) in recorded order; frame stamps are the recorded header stamps."""
        for conn, t_ns, raw in self._reader.messages(connections=self._conns):
            msg = self._reader.deserialize(raw, conn.msgtype)
            image = to_rgb(msg.data, int(msg.width), int(msg.height), msg.encoding, int(msg.step))
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            yield t_ns, CapturedFrame(image, stamp or t_ns, msg.header.frame_id, self.intrinsics)

    def close(self) -> None:
        self._reader.close()


class BagPlayer:
    """Paces a BagSource in real time (scaled by `rate`), optionally looping and restamping."""

    def __init__(self, source: BagSource, rate: float = 1.0, loop: bool = False, restamp: bool = True,
                 clock_ns=time.time_ns, sleep=time.sleep):
        self.source, self.rate, self.loop, self.restamp = source, rate, loop, restamp
        self.clock_ns, self.sleep = clock_ns, sleep

    def play(self, should_stop=lambda: False) -> Iterator[CapturedFrame]:
        while True:
            start_wall = None
            first_t = None
            for t_ns, frame in self.source.frames():
                if should_stop():
                    return
                if start_wall is None:
                    start_wall, first_t = self.clock_ns(), t_ns
                due = start_wall + int((t_ns - first_t) / self.rate)
                wait = (due - self.clock_ns()) / 1e9
                if wait > 0:
                    self.sleep(wait)
                if self.restamp:
                    frame.stamp_ns = due
                yield frame
            if not self.loop or start_wall is None:
                return
