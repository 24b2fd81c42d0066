"""`camera_node`: the head camera image the policy reads (thin rclpy adapter).

Sources: `sim` (subscribes the simulator's render), `realsense` (pyrealsense2),
`bag` (a rosbag2 replayed with its timing). Each frame is optionally cropped
and resized to the policy's input (psi0_policy.camera.transform) and published
as rgb8 Image + CameraInfo on topics.IMAGE / topics.CAMERA_INFO, stamped with
its capture time (the sim's render time, the camera's frame time, or the
bag's recorded stamp / replay time).
"""
from __future__ import annotations

import threading

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from psi0_common import topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_policy.camera.config import CameraConfig
from psi0_policy.camera.sources import BagPlayer, BagSource, CameraError, CapturedFrame, RealSenseSource
from psi0_policy.camera.transform import ImageError, ImageTransform, Intrinsics, to_rgb


class CameraNode(Node):
    def __init__(self, **kwargs):
        super().__init__("camera_node", **kwargs)
        self.cfg: CameraConfig = declare_config(self, CameraConfig)
        c = self.cfg
        self.transform = ImageTransform(c.output_width, c.output_height, c.resize_mode, c.crop)
        self.pub_image = self.create_publisher(Image, topics.IMAGE, qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, topics.CAMERA_INFO, qos_profile_sensor_data)
        self._sim_k: Intrinsics | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.errors = 0
        self._source = None
        if c.source == "sim":
            self.create_subscription(CameraInfo, c.sim_info_topic, self._on_sim_info, qos_profile_sensor_data)
            self.create_subscription(Image, c.sim_image_topic, self._on_sim_image, qos_profile_sensor_data)
        elif c.source == "realsense":
            self._source = RealSenseSource(c.realsense_serial, c.realsense_width, c.realsense_height,
                                           c.realsense_fps)
            self._thread = threading.Thread(target=self._realsense_loop, name="camera-realsense", daemon=True)
        else:
            self._source = BagSource(c.bag_path, c.bag_topic)
            self._thread = threading.Thread(target=self._bag_loop, name="camera-bag", daemon=True)
        if self._thread is not None:
            self._thread.start()
        self.get_logger().info(f"camera source {c.source} -> {topics.IMAGE} "
                               f"({c.resize_mode} to {c.output_width}x{c.output_height})")

    # --------------------------------------------------------------- sources
    def _on_sim_info(self, msg: CameraInfo) -> None:
        self._sim_k = Intrinsics(int(msg.width), int(msg.height), tuple(float(v) for v in msg.k))

    def _on_sim_image(self, msg: Image) -> None:
        try:
            image = to_rgb(msg.data, msg.width, msg.height, msg.encoding, msg.step)
        except ImageError as exc:
            self.errors += 1
            self.get_logger().error(f"dropped a sim image: {exc}", throttle_duration_sec=5.0)
            return
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        k = self._sim_k if self._sim_k and (self._sim_k.width, self._sim_k.height) == (msg.width, msg.height) else None
        self.publish(CapturedFrame(image, stamp, msg.header.frame_id, k))

    def _realsense_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._source.read()
            except RuntimeError as exc:
                self.errors += 1
                self.get_logger().error(f"realsense: {exc}", throttle_duration_sec=2.0)
                continue
            self._publish_from_thread(frame)

    def _publish_from_thread(self, frame: CapturedFrame) -> None:
        try:
            self.publish(frame)
        except Exception:                 # the context went down under us (Ctrl-C): stop quietly
            if not self._stop.is_set() and self.context.ok():
                raise

    def _bag_loop(self) -> None:
        c = self.cfg
        player = BagPlayer(self._source, c.bag_rate, c.bag_loop, c.bag_restamp)
        for frame in player.play(self._stop.is_set):
            self._publish_from_thread(frame)
        self.get_logger().info(f"bag {c.bag_path}: end of {self._source.topic}")

    # ------------------------------------------------------------ publishing
    def publish(self, frame: CapturedFrame) -> None:
        try:
            out = self.transform.apply(frame.image)
            k = self.transform.intrinsics(frame.intrinsics) if frame.intrinsics else None
        except ImageError as exc:
            self.errors += 1
            self.get_logger().error(f"dropped a frame: {exc}", throttle_duration_sec=5.0)
            return
        msg = Image(height=out.shape[0], width=out.shape[1], encoding="rgb8", is_bigendian=0, step=out.shape[1] * 3)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(frame.stamp_ns), 1_000_000_000)
        msg.header.frame_id = self.cfg.frame_id or frame.frame_id
        msg.data = out.tobytes()
        info = CameraInfo(header=msg.header, width=msg.width, height=msg.height, distortion_model="plumb_bob")
        info.d = [0.0] * 5
        if k is not None:
            info.k = list(k.k)
            info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            info.p = [k.k[0], 0.0, k.k[2], 0.0, 0.0, k.k[4], k.k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.pub_image.publish(msg)
        self.pub_info.publish(info)
        self.published += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._source is not None:
            self._source.close()


def main(args=None) -> int:
    return run_node(lambda: _make(), args=args)


def _make() -> CameraNode:
    try:
        return CameraNode()
    except CameraError as exc:
        # A missing device/file is a configuration problem: exit 2 with the message.
        from psi0_common.config import ConfigError
        raise ConfigError(str(exc)) from exc


if __name__ == "__main__":
    raise SystemExit(main())
