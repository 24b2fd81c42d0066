"""amo_bridge_node: the only writer of /lowcmd and the Dex3 commands (thin rclpy adapter).

Wiring only: parameters -> BridgeConfig -> core Bridge; messages are
converted to arrays and handed to the core under one lock; a dedicated
command thread takes the newest LowState and Dex3 states and the queued actions itself, ticks
the core at control_rate_hz (body) and hand_rate_hz (hands) on absolute
deadlines and publishes what it returns (LowCmd written straight to CDR
bytes). The e-stop topic (its own thread) and service publish the damping
command at once, without waiting for the next tick. Safety logic lives in
psi0_policy.bridge.core.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from psi0_msgs.msg import SimBaseCommand, WholeBodyAction
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from unitree_hg.msg import HandCmd, HandState, LowCmd, LowState, MotorCmd

from psi0_common import g1, topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_common.rosutil.topic_watcher import TopicWatcher
from psi0_common.rosutil.unspun import reader_node, received_ns, take_all, take_newest
from psi0_common.rosutil.unitree_msgs import lowcmd_to_cdr, lowstate_fields

from psi0_policy.bridge.config import BridgeConfig
from psi0_policy.bridge.core import LATCHED, SIDES, Bridge, State, TickOutput
from psi0_policy.bridge.robot import RobotState
from psi0_common.realtime import send_timing, shorten_gil_switch_interval

COMMAND_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1)
STATE_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Actions: reliable with a short queue, so one source's message is never dropped for another's (the
# core keeps only the newest valid action of the configured source anyway).
ACTION_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
ESTOP_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
LEVELS = {State.ACTIVE: DiagnosticStatus.OK, State.RAMP: DiagnosticStatus.OK, State.HOLD: DiagnosticStatus.WARN,
          State.INIT: DiagnosticStatus.WARN}


def lowstate_to_robot(raw: bytes, now: float) -> RobotState:
    """A serialized LowState as the core's RobotState, read from its bytes (7 us; rclpy's deserializer
    took 240-300 us, the largest and most variable cost of a tick)."""
    f = lowstate_fields(raw)
    return RobotState(now, f.q[:g1.NUM_BODY], f.dq[:g1.NUM_BODY], f.quaternion, f.gyroscope, f.rpy,
                      f.mode_machine)


class AmoBridgeNode(Node):
    def __init__(self, **kwargs):
        super().__init__("amo_bridge", **kwargs)
        self.cfg = declare_config(self, BridgeConfig)
        self.bridge = Bridge(self.cfg)  # the amo backend loads and checks its weights here (ConfigError)
        self.clock = time.monotonic
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seen_transitions = 0
        self._rejections_logged = 0

        self.pub_lowcmd = self.create_publisher(LowCmd, topics.LOWCMD, COMMAND_QOS)
        self.pub_hand = {s: self.create_publisher(HandCmd, topics.DEX3_CMD[s], COMMAND_QOS) for s in SIDES}
        self.pub_base = (self.create_publisher(SimBaseCommand, topics.SIM_BASE_COMMAND, COMMAND_QOS)
                         if self.cfg.backend == "kinematic" else None)
        self.pub_state = self.create_publisher(String, topics.BRIDGE_STATE, STATE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)

        safety = MutuallyExclusiveCallbackGroup()
        # LowState arrives at 500 Hz. The command thread takes the newest one itself before each tick
        # from a subscription on a private helper node that no executor spins: 500 executor wake-ups
        # a second in Python would compete for the GIL with the command thread.
        self._reader = reader_node(self, "lowstate_reader")
        self._lowstate_sub = self._reader.create_subscription(LowState, topics.LOWSTATE, lambda _: None,
                                                              qos_profile_sensor_data, raw=True)
        # Actions (30 Hz and more) likewise: every executor wake-up is ~0.5 ms of Python that the
        # command thread would have to share the GIL with.
        self._action_sub = self._reader.create_subscription(WholeBodyAction, topics.ACTION, lambda _: None,
                                                            ACTION_QOS)
        # When each LowCmd left, against its deadline: the command loop's own timing for /diagnostics.
        self._sent: deque[tuple[float, float]] = deque(maxlen=1000)
        self._estop_reaction: float | None = None  # last e-stop topic message: arrival -> damping sent
        # Dex3 states (100 Hz each) likewise, taken before each hand tick: with them on the executor, the
        # command loop's p99 jitter was 3.4 ms instead of < 1 ms (docs/benchmarks.md).
        self._hand_subs = {side: self._reader.create_subscription(HandState, topics.DEX3_STATE[side], lambda _: None,
                                                                  qos_profile_sensor_data, raw=True)
                           for side in SIDES}
        self.create_service(Trigger, topics.ESTOP, self._on_estop_service, callback_group=safety)
        self.create_service(Trigger, topics.ESTOP_RESET, self._on_reset_service, callback_group=safety)
        self.create_timer(self.cfg.writer_check_period, self._check_writers, callback_group=safety)
        self.create_timer(self.cfg.diagnostics_period, self._publish_diagnostics, callback_group=safety)

        # The e-stop topic has a thread of its own (not an executor callback): damping goes out within
        # ~1 ms of the message's arrival (measured 0.7-1.3 ms max), whatever the executor is doing.
        self._estop_watcher = TopicWatcher(
            self._reader, Bool, topics.ESTOP, ESTOP_QOS, self._on_estop_topic,
            rt_priority=min(self.cfg.realtime_priority + 1, 99) if self.cfg.realtime_priority > 0 else 0,
            on_warning=self.get_logger().warn, name="amo_bridge_estop")
        # The command thread shares the GIL with the executor threads: a wake-up must not wait for a callback.
        shorten_gil_switch_interval()
        self._thread = threading.Thread(target=self._command_loop, name="amo_bridge_commands", daemon=True)
        self._thread.start()
        self.get_logger().info(f"AMO bridge up: backend {self.cfg.backend}, {self.cfg.control_rate_hz:g} Hz, "
                               f"driving source {self.cfg.source}")

    # -- inputs ---------------------------------------------------------------------------------
    def _take_lowstate(self) -> None:
        """Hand the newest queued LowState to the core (under the lock, before a tick)."""
        got = take_newest(self._lowstate_sub)
        if got is not None:
            raw, age = got
            self.bridge.on_lowstate(lowstate_to_robot(raw, self.clock() - age))  # arrival, core's clock

    def _take_actions(self) -> None:
        """Hand every queued action to the core, oldest first (under the lock, before a tick)."""
        for msg, age in take_all(self._action_sub):
            self.bridge.on_action(np.asarray(msg.action, float), msg.source, self.clock() - age)

    def _take_hand_states(self) -> None:
        """Hand the newest queued Dex3 state of each side to the core (under the lock, before a hand tick)."""
        for side, sub in self._hand_subs.items():
            got = take_newest(sub)
            if got is not None:
                raw, age = got
                msg = deserialize_message(raw, HandState)  # variable-size: rclpy reads it (only the newest)
                q = np.array([m.q for m in msg.motor_state[:g1.NUM_HAND]])
                self.bridge.on_hand_state(side, q, self.clock() - age)

    def _on_estop_topic(self, msg: Bool, info) -> None:
        if msg.data:
            self._estop(f"e-stop topic {topics.ESTOP}", received_ns(info))

    def _on_estop_service(self, request, response):
        self._estop(f"e-stop service {topics.ESTOP}")
        response.success = True
        response.message = "e-stop: damping, latched until " + topics.ESTOP_RESET
        return response

    def _on_reset_service(self, request, response):
        with self._lock:
            self._take_lowstate()
            response.success, response.message = self.bridge.reset(self.clock())
        if response.success:
            self.get_logger().info(response.message)
        else:
            self.get_logger().warn(response.message)
        return response

    def _estop(self, reason: str, arrival_ns: int = 0) -> None:
        with self._lock:
            self._take_lowstate()
            now = self.clock()
            self.bridge.estop(now, reason)
            self._publish_body(self.bridge.tick(now, scheduled=False))  # damping now, not at the next tick
        if arrival_ns:  # arrival in this process -> damping LowCmd handed to DDS, on one clock
            self._estop_reaction = (time.time_ns() - arrival_ns) * 1e-9
        self._report_transitions()

    # -- the command thread --------------------------------------------------------------------------
    def _command_loop(self) -> None:
        """Each body command is computed `command_lead` before its deadline and sent on it: the send
        instant then varies only with the thread's wake-up, not with the tick's work."""
        self._set_realtime()
        period, hand_period, lead = self.cfg.period, self.cfg.hand_period, self.cfg.command_lead
        next_body = next_hand = self.clock() + lead
        ready, prepared = False, None  # the command for next_body is computed (None: nothing to send)
        while not self._stop.is_set() and rclpy.ok(context=self.context):
            now = self.clock()
            if not ready and now >= next_body - lead:
                prepared, ready = self._prepare_body(), True
                if not rclpy.ok(context=self.context):
                    return
                now = self.clock()
            if ready and now >= next_body:
                if prepared is not None:
                    self._send_body(*prepared, deadline=next_body)
                ready, prepared = False, None
                next_body += period
                if next_body - lead < now:  # overran: keep the phase, skip the missed ticks
                    next_body += period * (int((now - next_body + lead) / period) + 1)
                self._report_transitions()
            if now >= next_hand:
                with self._lock:
                    try:
                        self._take_hand_states()
                        self._publish_hands(self.bridge.hand_tick(self.clock()))
                    except Exception as exc:  # a bad Dex3 message or a bug: damp, never stop the loop
                        if not rclpy.ok(context=self.context):
                            return
                        self._internal_error(exc)
                next_hand += hand_period
                if next_hand < now:
                    next_hand += hand_period * (int((now - next_hand) / hand_period) + 1)
            delay = min(next_body if ready else next_body - lead, next_hand) - self.clock()
            if delay > 0:
                time.sleep(delay)

    def _prepare_body(self) -> tuple[TickOutput, bytes | None] | None:
        """Take the inputs, tick the core and serialize its LowCmd; None after an internal error (damping
        has been sent then, and the e-stop latched)."""
        with self._lock:
            try:
                self._take_lowstate()
                self._take_actions()
                out = self.bridge.tick(self.clock())
                return out, (lowcmd_to_cdr(out.lowcmd) if out.lowcmd is not None else None)
            except Exception as exc:  # a bug here must not leave the robot on its last command
                if rclpy.ok(context=self.context):
                    self._internal_error(exc)
                return None

    def _internal_error(self, exc: Exception) -> None:
        """Latched e-stop with damping sent at once (called under the lock)."""
        self.get_logger().error(f"command loop failed: {exc!r}; e-stop")
        self.bridge.estop(self.clock(), f"internal error: {exc!r}")
        try:
            self._publish_body(self.bridge.damping_output())
        except Exception as exc2:
            self.get_logger().error(f"cannot even send damping: {exc2!r}")

    def _send_body(self, out: TickOutput, raw: bytes | None, deadline: float) -> None:
        with self._lock:
            if not self.bridge.still_sendable(out):  # an e-stop came in since: its damping stands
                return
            self._publish_body(out, raw)
            self._sent.append((deadline, self.clock()))

    def _set_realtime(self) -> None:
        """SCHED_FIFO for the command thread only.

        Measured on the shared VM (docs/benchmarks.md): raising the executor threads as well (or the
        whole process) made the loop much worse, so they stay normally scheduled.
        """
        prio = self.cfg.realtime_priority
        if prio <= 0:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
        except (OSError, AttributeError) as exc:
            self.get_logger().warn(f"cannot use SCHED_FIFO {prio} ({exc}); running with normal scheduling")

    def _publish_body(self, out: TickOutput, raw: bytes | None = None) -> None:
        if out.lowcmd is not None:
            # serialized directly (no 35 message objects), unless the caller did already
            self.pub_lowcmd.publish(raw if raw is not None else lowcmd_to_cdr(out.lowcmd))
        if out.base is not None and self.pub_base is not None:
            msg = SimBaseCommand()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.vx, msg.vy, msg.yaw_rate, msg.height = out.base.vx, out.base.vy, out.base.yaw_rate, out.base.height
            self.pub_base.publish(msg)

    def _publish_hands(self, cmds) -> None:
        for side, cmd in cmds.items():
            if cmd is None:
                continue
            msg = HandCmd()
            for i in range(g1.NUM_HAND):
                m = MotorCmd()
                m.mode = int(cmd.mode[i])
                m.q, m.kp, m.kd = float(cmd.q[i]), float(cmd.kp[i]), float(cmd.kd[i])
                msg.motor_cmd.append(m)
            self.pub_hand[side].publish(msg)

    # -- reporting ------------------------------------------------------------------------------------
    def _report_transitions(self) -> None:
        with self._lock:
            new = self.bridge.transitions[self._seen_transitions:]
            self._seen_transitions = len(self.bridge.transitions)
            state = self.bridge.state
        for _, s, reason in new:
            if s in LATCHED or s == State.BLOCKED:
                self.get_logger().error(f"{s.value}: {reason}")
            else:
                self.get_logger().info(f"{s.value}: {reason}")
        if new:
            self.pub_state.publish(String(data=state.value))

    def _check_writers(self) -> None:
        infos = self.get_publishers_info_by_topic(topics.LOWCMD)
        me = (self.get_name(), self.get_namespace())
        others, skipped_self = [], False
        for info in infos:
            if (info.node_name, info.node_namespace) == me and not skipped_self:
                skipped_self = True
                continue
            others.append(f"{info.node_namespace.rstrip('/')}/{info.node_name}")
        with self._lock:
            if tuple(others) != self.bridge.other_writers:
                self.bridge.set_other_writers(others, self.clock())
        self._report_transitions()

    def _publish_diagnostics(self) -> None:
        with self._lock:
            s = self.bridge.status()
            inference = getattr(self.bridge.backend, "inference_time", None)
        if s.rejected > self._rejections_logged:
            self.get_logger().warn(f"rejected {s.rejected - self._rejections_logged} action(s); last: "
                                   f"{s.last_rejection}")
            self._rejections_logged = s.rejected
        status = DiagnosticStatus(name="amo_bridge", hardware_id="g1",
                                  level=LEVELS.get(s.state, DiagnosticStatus.ERROR),
                                  message=f"{s.state.value}: {s.reason}")
        values = {"state": s.state.value, "reason": s.reason, "configured_source": s.source,
                  "driving_source": s.driving_source or "none", "backend": self.cfg.backend,
                  "loop_period_p50_ms": f"{s.loop_period_p50 * 1e3:.3f}",
                  "loop_period_p99_ms": f"{s.loop_period_p99 * 1e3:.3f}",
                  "loop_period_max_ms": f"{s.loop_period_max * 1e3:.3f}", "ticks": str(s.ticks),
                  "rejected_actions": str(s.rejected), "last_rejection": s.last_rejection,
                  "ignored_actions": ", ".join(f"{k}: {v}" for k, v in sorted(s.ignored.items())) or "none",
                  "other_lowcmd_writers": ", ".join(s.other_writers) or "none"}
        timing = send_timing(list(self._sent))
        if timing is not None:  # the command loop's own schedule, over the last (up to) 1000 LowCmds
            values.update({f"command_{k}_ms": f"{timing[k] * 1e3:.3f}"
                           for k in ("jitter_p50", "jitter_p99", "jitter_max", "late_p50", "late_p99")})
        if self._estop_reaction is not None:
            values["last_estop_reaction_ms"] = f"{self._estop_reaction * 1e3:.3f}"
        if inference is not None:
            values["amo_inference_ms"] = f"{inference * 1e3:.3f}"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)
        self.pub_state.publish(String(data=s.state.value))

    def close(self) -> None:
        self._estop_watcher.close()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._reader.destroy_node()


def main(args=None):
    return run_node(lambda: AmoBridgeNode(), args=args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
