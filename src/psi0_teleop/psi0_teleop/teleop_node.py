"""Teleop node: TrackerFrames + GloveState -> TeleopCore -> /psi0/action (source TELEOP) at 30 Hz.

Also publishes the IK solution (sensor_msgs/JointState), std_msgs/Bool true on
the e-stop topic while the operator's e-stop is pressed, publisher counts for
the recorder, and its status on /diagnostics. Services: engage (SetBool),
calibrate (Trigger).
"""
from __future__ import annotations

import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from psi0_msgs.msg import GloveState, TrackerFrames, WholeBodyAction
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger
from unitree_hg.msg import LowState

from psi0_common import g1, topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_teleop.calibration import Calibration
from psi0_teleop.config import CALIBRATE_SERVICE, ENGAGE_SERVICE, TeleopConfig
from psi0_teleop.pubcount import COUNTS_TOPIC, PublishCounter, stamp_key
from psi0_teleop.ros.convert import action_to_msg, counts_msg, glove_from_msg, joint_state, tracker_from_msg
from psi0_teleop.teleop import TeleopCore

COMMAND_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
INPUT_QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop", **kwargs)
        self.cfg = declare_config(self, TeleopConfig)
        cal = Calibration.load(self.cfg.calibration_file) if self.cfg.calibration_file else None
        self.core = TeleopCore(self.cfg, calibration=cal)
        self.lock = threading.Lock()
        self.counter = PublishCounter()
        self.tick = 0
        self.ik_names = list(self.core.ik.names)
        self.pub_action = self.create_publisher(WholeBodyAction, self.cfg.action_topic, COMMAND_QOS)
        self.pub_ik = self.create_publisher(JointState, self.cfg.ik_topic, 10)
        self.pub_estop = self.create_publisher(Bool, self.cfg.estop_topic, COMMAND_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.pub_counts = self.create_publisher(DiagnosticArray, COUNTS_TOPIC, 10)
        self.create_subscription(TrackerFrames, self.cfg.trackers_topic, self.on_trackers, INPUT_QOS)
        self.create_subscription(GloveState, self.cfg.gloves_topic, self.on_gloves, INPUT_QOS)
        if self.cfg.use_robot_state:
            self.create_subscription(LowState, topics.LOWSTATE, self.on_lowstate, qos_profile_sensor_data)
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(SetBool, ENGAGE_SERVICE, self.on_engage, callback_group=services)
        self.create_service(Trigger, CALIBRATE_SERVICE, self.on_calibrate, callback_group=services)
        self.create_timer(1.0 / self.cfg.rate_hz, self.on_tick)
        self.create_timer(0.2, self.on_counts)
        self.create_timer(1.0, self.on_diagnostics)
        self._estop_was = False
        self.get_logger().info(f"teleop ready: IK model {self.core.ik.model_path}, "
                               f"{'calibration ' + self.cfg.calibration_file if cal else 'not calibrated'}, "
                               f"{'engaged at start' if self.cfg.start_engaged else 'engage with the button or ' + ENGAGE_SERVICE}")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -- inputs ------------------------------------------------------------------------
    def on_trackers(self, msg: TrackerFrames) -> None:
        with self.lock:
            self.core.on_trackers(tracker_from_msg(msg))

    def on_gloves(self, msg: GloveState) -> None:
        with self.lock:
            self.core.on_gloves(glove_from_msg(msg))

    def on_lowstate(self, msg: LowState) -> None:
        q = np.array([m.q for m in msg.motor_state[:g1.NUM_BODY]])
        with self.lock:
            self.core.set_robot_state(np.concatenate([q[g1.LEFT_ARM], q[g1.RIGHT_ARM]]), q[g1.WAIST],
                                      float(msg.imu_state.rpy[2]))

    # -- services ----------------------------------------------------------------------
    def on_engage(self, req, res):
        with self.lock:
            try:
                res.message = self.core.set_engaged(bool(req.data))
                res.success = self.core.status.engaged == bool(req.data)
            except ValueError as exc:
                res.success, res.message = False, str(exc)
        self.get_logger().info(f"engage({req.data}): {res.message}")
        return res

    def on_calibrate(self, req, res):
        with self.lock:
            try:
                cal = self.core.calibrate_now()
                res.success = True
                res.message = f"calibrated: scale {cal.scale:.3f}, operator head {cal.operator_head_height:.2f} m"
            except ValueError as exc:
                res.success, res.message = False, str(exc)
        self.get_logger().info(res.message)
        return res

    # -- outputs -----------------------------------------------------------------------
    def on_tick(self) -> None:
        now = self.now()
        with self.lock:
            out = self.core.step(now)
            messages = self.core.drain_messages()
        for m in messages:
            self.get_logger().info(m)
        if out.estop or self._estop_was:
            self.pub_estop.publish(Bool(data=bool(out.estop)))
            if out.estop and not self._estop_was:
                self.get_logger().warning("operator e-stop pressed: e-stop sent to the AMO bridge")
            self._estop_was = out.estop
        if out.ik is not None:
            self.pub_ik.publish(joint_state(self.ik_names, out.ik.q, now))
        if out.action is not None:
            msg = action_to_msg(out.action, now, index=self.tick)
            self.pub_action.publish(msg)
            self.counter.published(self.cfg.action_topic, stamp_key(msg.header.stamp.sec, msg.header.stamp.nanosec))
            self.tick += 1

    def on_counts(self) -> None:
        if self.counter.snapshot():
            self.pub_counts.publish(counts_msg(self.get_name(), self.counter, self.now()))

    def on_diagnostics(self) -> None:
        st = self.core.status
        level = DiagnosticStatus.OK
        if st.estop or (st.engaged and (st.holding or not st.ik_ok)):
            level = DiagnosticStatus.ERROR if st.estop else DiagnosticStatus.WARN
        ds = DiagnosticStatus(level=level, name=f"{self.get_name()}: teleop", message=st.summary(), hardware_id="")
        ds.values = [KeyValue(key=k, value=str(getattr(st, k))) for k in
                     ("engaged", "calibrated", "estop", "trackers_stale", "gloves_stale", "holding", "ik_ok",
                      "rejected_samples", "ik_failures")]
        arr = DiagnosticArray(status=[ds])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    return run_node(lambda: TeleopNode(), args=args)


if __name__ == "__main__":
    raise SystemExit(main())
