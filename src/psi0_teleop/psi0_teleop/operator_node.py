"""Operator driver node: a device (synthetic, replay, XRoboToolkit) -> TrackerFrames + GloveState topics."""
from __future__ import annotations

import threading

from diagnostic_msgs.msg import DiagnosticArray
from psi0_msgs.msg import GloveState, TrackerFrames
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from psi0_common.config import ConfigError
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_teleop.config import OperatorDriverConfig
from psi0_teleop.devices import DeviceError, OperatorDevice
from psi0_teleop.pubcount import COUNTS_TOPIC, PublishCounter
from psi0_teleop.ros.convert import counts_msg, publish_operator_samples

# Reliable so a recorder on the same machine can get every sample; best-effort subscribers still match.
STREAM_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def build_device(cfg: OperatorDriverConfig) -> OperatorDevice:
    if cfg.device == "synthetic":
        from psi0_teleop.devices.synthetic import SyntheticOperator, load_script
        from psi0_teleop.ik import IKParams, WholeBodyIK

        try:
            reference = WholeBodyIK(IKParams(model_path=cfg.model_path)).reference
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise ConfigError(f"synthetic operator: cannot load the robot model for robot-frame targets: {exc}")
        try:
            script = load_script(cfg.script) if cfg.script else None
        except (ValueError, OSError) as exc:
            raise ConfigError(f"synthetic operator script: {exc}") from exc
        return SyntheticOperator(script, seed=cfg.seed, rate_hz=cfg.device_rate_hz, robot_reference=reference,
                                 loop=cfg.loop)
    if cfg.device == "replay":
        from psi0_teleop.devices.replay import ReplayDevice

        return ReplayDevice(cfg.session_file, loop=cfg.loop)
    from psi0_teleop.devices.xrobotoolkit import XRoboToolkitDevice

    return XRoboToolkitDevice()


class OperatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("operator_driver", **kwargs)
        self.cfg = declare_config(self, OperatorDriverConfig)
        try:
            self.device = build_device(self.cfg)
        except DeviceError as exc:
            raise ConfigError(f"{self.get_name()}: {exc}") from exc
        self.session = None
        if self.cfg.record_session_to:
            from psi0_teleop.devices.replay import SessionWriter

            self.session = SessionWriter(self.cfg.record_session_to, source=self.cfg.device)
        self.counter = PublishCounter()
        self.pub_trackers = self.create_publisher(TrackerFrames, self.cfg.trackers_topic, STREAM_QOS)
        self.pub_gloves = self.create_publisher(GloveState, self.cfg.gloves_topic, STREAM_QOS)
        self.pub_counts = self.create_publisher(DiagnosticArray, COUNTS_TOPIC, 10)
        self.create_timer(1.0 / self.cfg.poll_hz, self.on_poll)
        self.create_timer(0.2, self.on_counts)
        self._done_reported = False
        self.finished = threading.Event()
        self.get_logger().info(f"operator driver: device {self.device.name}")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_poll(self) -> None:
        try:
            trackers, gloves = self.device.poll(self.now())
        except DeviceError as exc:
            self.get_logger().error(f"device error: {exc}")
            return
        publish_operator_samples(trackers, gloves, self.pub_trackers, self.pub_gloves, self.counter,
                                 self.cfg.trackers_topic, self.cfg.gloves_topic)
        if self.session is not None and (trackers or gloves):
            self.session.write(trackers, gloves)
        if self.device.done() and not self._done_reported:
            self._done_reported = True
            self.get_logger().info("device finished (end of script/replay)")
            if self.cfg.exit_when_done:
                self.on_counts()
                self.finished.set()   # run_node stops spinning and shuts down from the main thread

    def on_counts(self) -> None:
        if self.counter.snapshot():
            self.pub_counts.publish(counts_msg(self.get_name(), self.counter, self.now()))

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.device.close()


def main(args=None) -> int:
    return run_node(lambda: OperatorNode(), args=args)


if __name__ == "__main__":
    raise SystemExit(main())
