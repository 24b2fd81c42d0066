"""scripted_operator: plays planned demonstrations into the teleop node's inputs, one per sim episode.

Watches /psi0/sim/task_state; at every new episode (seed change or reset) it
plans from the seed (psi0_sim.layout.sample_layout -> demo.planner.plan_demo),
waits `start_delay`, then publishes the synthetic operator's TrackerFrames and
GloveState (same topics, QoS and publish counts as operator_driver), and calls
the teleop's calibrate (first episode) and engage services at the plan's
instants (with rearm_bridge, the AMO bridge's reset just before engaging).
It also watches the robot like an operator: palm positions from /lowstate
(forward kinematics) and base odometry from /psi0/sim/base_command, which the
hand-eye correction uses (psi0_teleop.demo.feedback). Core logic:
psi0_teleop.demo.session / planner / feedback.
"""
from __future__ import annotations

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from psi0_msgs.msg import GloveState, SimBaseCommand, TaskState, TrackerFrames, WholeBodyAction
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from std_srvs.srv import SetBool, Trigger
from unitree_hg.msg import LowState

from psi0_common import action_layout as al
from psi0_common import g1, topics
from psi0_common.config import ConfigError
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_teleop.config import CALIBRATE_SERVICE, ENGAGE_SERVICE
from psi0_teleop.demo.feedback import measured_palms
from psi0_teleop.demo.config import ScriptedOperatorConfig
from psi0_teleop.demo.session import BaseOdometry, DemoSession, EpisodeWatch
from psi0_teleop.operator_node import STREAM_QOS
from psi0_teleop.pubcount import COUNTS_TOPIC, PublishCounter
from psi0_teleop.ros.convert import counts_msg, publish_operator_samples


class ScriptedOperatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("scripted_operator", **kwargs)
        self.cfg: ScriptedOperatorConfig = declare_config(self, ScriptedOperatorConfig)
        from psi0_teleop.ik import IKParams, WholeBodyIK

        try:
            self.ik = WholeBodyIK(IKParams(model_path=self.cfg.model_path))
            self.reference = self.ik.reference
        except (FileNotFoundError, ValueError, ImportError) as exc:
            raise ConfigError(f"scripted operator: cannot load the robot model: {exc}") from exc
        self.watch = EpisodeWatch()
        self.session: DemoSession | None = None
        self.calibrated = False
        self.counter = PublishCounter()
        self.pub_trackers = self.create_publisher(TrackerFrames, self.cfg.trackers_topic, STREAM_QOS)
        self.pub_gloves = self.create_publisher(GloveState, self.cfg.gloves_topic, STREAM_QOS)
        self.pub_counts = self.create_publisher(DiagnosticArray, COUNTS_TOPIC, 10)
        self.engage_client = self.create_client(SetBool, ENGAGE_SERVICE)
        self.calibrate_client = self.create_client(Trigger, CALIBRATE_SERVICE)
        self.rearm_client = self.create_client(Trigger, topics.ESTOP_RESET)
        self.create_subscription(TaskState, topics.SIM_TASK_STATE, self.on_task_state, 10)
        # What the operator sees: the robot's joints (-> palm positions) and the commanded pelvis height.
        self._q: np.ndarray | None = None
        self._height = g1.NOMINAL_PELVIS_HEIGHT
        self._last_feedback: float | None = None
        self._sim_time: float | None = None
        self.odometry = BaseOdometry()
        if self.cfg.feedback_gain > 0:
            self.create_subscription(LowState, topics.LOWSTATE, self.on_lowstate, qos_profile_sensor_data)
            self.create_subscription(WholeBodyAction, topics.ACTION, self.on_action, 10)
            # where the base went (the sim's kinematic base follows these commands exactly)
            self.create_subscription(SimBaseCommand, topics.SIM_BASE_COMMAND, self.on_base_command, 10)
        self.create_timer(1.0 / self.cfg.poll_hz, self.on_poll)
        self.create_timer(0.2, self.on_counts)
        self.get_logger().info("scripted operator: waiting for the sim's task state")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_task_state(self, msg: TaskState) -> None:
        if not self.watch.update(msg.seed, msg.elapsed):
            return
        task = self.cfg.task or msg.task
        self.session = DemoSession.create(task, int(msg.seed), self.now(), self.cfg, self.reference)
        self.odometry.reset()
        p = self.session.plan
        self.get_logger().info(f"new episode: task {task} seed {msg.seed}: {p.side} hand, {p.duration:.1f} s plan, "
                               f"base shift {p.base_shift:+.2f} m, starts in {self.cfg.start_delay:g} s")

    def on_base_command(self, msg: SimBaseCommand) -> None:
        if self._sim_time is None:
            return
        # integrate on the sim's clock (LowState tick): the kinematic base moves in simulated time
        self.odometry.command(self._sim_time, msg.vx, msg.vy, msg.yaw_rate)
        if self.session is not None:
            self.session.base_odometry(self.odometry.xy)

    def on_lowstate(self, msg: LowState) -> None:
        self._q = np.array([m.q for m in msg.motor_state[:g1.NUM_BODY]])
        self._sim_time = msg.tick * 1e-3

    def on_action(self, msg: WholeBodyAction) -> None:
        if msg.source == WholeBodyAction.SOURCE_TELEOP and len(msg.action) == al.ACTION_DIM:
            self._height = float(msg.action[al.BASE_HEIGHT])

    def on_poll(self) -> None:
        s = self.session
        if s is None:
            return
        now = self.now()
        if self._q is not None and (self._last_feedback is None or now - self._last_feedback >= 1.0 / 30.0):
            q = self._q
            palms = measured_palms(self.ik, np.concatenate([q[g1.LEFT_ARM], q[g1.RIGHT_ARM]]), q[g1.WAIST],
                                   self._height)
            s.feedback(palms, now, self._last_feedback)
            self._last_feedback = now
        trackers, gloves = s.poll(now)
        publish_operator_samples(trackers, gloves, self.pub_trackers, self.pub_gloves, self.counter,
                                 self.cfg.trackers_topic, self.cfg.gloves_topic)
        if self.cfg.engage:
            for call in s.due_calls(now):
                if call == "calibrate" and not self.calibrated:
                    self._call(self.calibrate_client, Trigger.Request(), "calibrate")
                elif call == "engage":
                    if self.cfg.rearm_bridge:     # the hands are down, as after a reset: safe to re-arm
                        self._call(self.rearm_client, Trigger.Request(), "bridge reset")
                    self._call(self.engage_client, SetBool.Request(data=True), "engage")

    def _call(self, client, request, what: str) -> None:
        if not client.service_is_ready():
            self.get_logger().warn(f"{what} service {client.srv_name} not available")
            return
        future = client.call_async(request)

        def done(f, what=what):
            res = f.result()
            if what == "calibrate" and res is not None and res.success:
                self.calibrated = True
            self.get_logger().info(f"{what}: {getattr(res, 'message', '')}")
        future.add_done_callback(done)

    def on_counts(self) -> None:
        if self.counter.snapshot():
            self.pub_counts.publish(counts_msg(self.get_name(), self.counter, self.now()))


def main(args=None) -> int:
    return run_node(lambda: ScriptedOperatorNode(), args=args)


if __name__ == "__main__":
    raise SystemExit(main())
