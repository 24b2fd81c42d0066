"""ROS-side helpers for the bridge's node tests: a tiny fake G1 and a probe node."""
from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from psi0_msgs.msg import SimBaseCommand, WholeBodyAction
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from unitree_hg.msg import HandCmd, HandState, LowCmd, LowState, MotorState

from psi0_common import g1, topics
from psi0_common.rosutil.unitree_msgs import lowcmd_to_data
from psi0_common.unitree_codec import crc_ok
from psi0_common.testing import wait_for  # noqa: F401  (re-exported for the bridge tests)

RELIABLE_1 = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1)
LATCHED = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class FakeG1(Node):
    """Publishes LowState (200 Hz) and Dex3 states; its joints jump to the commanded positions."""

    def __init__(self, context, mode_machine: int = 3, rate: float = 200.0):
        super().__init__("fake_g1", context=context)
        self.mode_machine = mode_machine
        self.q = g1.DEFAULT_BODY_POSE.copy()
        self.hand_q = np.zeros(g1.NUM_HAND)
        self.publishing = True
        self.lock = threading.Lock()
        self.lowcmds: list[tuple[float, object]] = []  # (receive time, LowCmdData)
        self.handcmds: dict[str, list] = {"left": [], "right": []}
        self.base: list[SimBaseCommand] = []
        self.pub = self.create_publisher(LowState, topics.LOWSTATE, qos_profile_sensor_data)
        self.pub_hand = {s: self.create_publisher(HandState, topics.DEX3_STATE[s], qos_profile_sensor_data)
                         for s in ("left", "right")}
        self.create_subscription(LowCmd, topics.LOWCMD, self._on_lowcmd, RELIABLE_1)
        for s in ("left", "right"):
            self.create_subscription(HandCmd, topics.DEX3_CMD[s], lambda m, s=s: self.handcmds[s].append(m),
                                     RELIABLE_1)
        self.create_subscription(SimBaseCommand, topics.SIM_BASE_COMMAND, self.base.append, RELIABLE_1)
        self.create_timer(1.0 / rate, self._publish)

    def _on_lowcmd(self, msg: LowCmd) -> None:
        data = lowcmd_to_data(msg)
        with self.lock:
            self.lowcmds.append((time.monotonic(), data))
            if crc_ok(data) and data.motors.kp[:g1.NUM_BODY].any():
                self.q = data.motors.q[:g1.NUM_BODY].astype(float)

    def _publish(self) -> None:
        if not self.publishing:
            return
        msg = LowState()
        msg.mode_machine = self.mode_machine
        msg.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
        with self.lock:
            q = self.q.tolist()
        for i in range(g1.NUM_BODY):
            msg.motor_state[i].q = q[i]
        self.pub.publish(msg)
        for s in ("left", "right"):
            self.pub_hand[s].publish(HandState(motor_state=[MotorState(q=float(v)) for v in self.hand_q]))

    def commands_since(self, t: float):
        with self.lock:
            return [(tt, c) for tt, c in self.lowcmds if tt >= t]


class Probe(Node):
    """Publishes actions and e-stops, calls services, records the bridge's state and diagnostics."""

    def __init__(self, context):
        super().__init__("bridge_probe", context=context)
        self.states: list[tuple[float, str]] = []
        self.diagnostics: list[dict] = []
        self.pub_action = self.create_publisher(WholeBodyAction, topics.ACTION, RELIABLE_1)
        self.pub_estop = self.create_publisher(Bool, topics.ESTOP, 10)
        self.create_subscription(String, topics.BRIDGE_STATE, lambda m: self.states.append((time.monotonic(), m.data)),
                                 LATCHED)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 10)
        self.estop_client = self.create_client(Trigger, topics.ESTOP)
        self.reset_client = self.create_client(Trigger, topics.ESTOP_RESET)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            if s.name == "amo_bridge":
                self.diagnostics.append({kv.key: kv.value for kv in s.values})

    def send(self, action, source: int = 1) -> None:
        msg = WholeBodyAction(source=source)
        msg.action = [float(v) for v in action]
        self.pub_action.publish(msg)

    def state(self) -> str:
        return self.states[-1][1] if self.states else ""


def call(client, timeout: float = 5.0):
    assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
    future = client.call_async(Trigger.Request())
    assert wait_for(future.done, timeout), f"service {client.srv_name} did not answer"
    return future.result()
