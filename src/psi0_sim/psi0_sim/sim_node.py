"""`sim_node`: the simulated G1 on the robot's own topics (thin rclpy adapter).

Publishes /lowstate (500 Hz, from the physics thread), the Dex3 states, the
head camera image + CameraInfo (30 Hz, stamped with the capture time), the
task state and /diagnostics; subscribes /lowcmd, the Dex3 commands and the
sim base command; serves the ResetSim service. All logic is in
psi0_sim.robot / psi0_sim.runtime.
"""
from __future__ import annotations

import os

import mujoco
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from psi0_msgs.msg import SimBaseCommand, TaskState
from psi0_msgs.srv import ResetSim
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from unitree_hg.msg import HandCmd, HandState, LowCmd, LowState, MotorState

from psi0_common import g1, topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_common.rosutil.unitree_msgs import LowStateWriter, lowcmd_to_data
from psi0_common.unitree_codec import NUM_MOTORS
from psi0_sim.config import SimConfig
from psi0_sim.robot import SIDES, G1Sim, HandStateData, LowStateData
from psi0_sim.runtime import Frame, RateMeter, SimRuntime
from psi0_sim.task import TaskStatus

COMMAND_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
STATE_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


class SimNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_node", **kwargs)
        self.cfg: SimConfig = declare_config(self, SimConfig)
        self._set_priority(self.cfg.nice)   # before any thread starts: threads inherit it
        self.sim = G1Sim(self.cfg)
        self._closed = False

        self.pub_lowstate = self.create_publisher(LowState, topics.LOWSTATE, qos_profile_sensor_data)
        self.pub_hand = {s: self.create_publisher(HandState, topics.DEX3_STATE[s], qos_profile_sensor_data)
                         for s in SIDES}
        self.pub_image = self.create_publisher(Image, topics.SIM_IMAGE, qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, topics.SIM_CAMERA_INFO, qos_profile_sensor_data)
        self.pub_task = self.create_publisher(TaskState, topics.SIM_TASK_STATE, STATE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, STATE_QOS)

        commands = MutuallyExclusiveCallbackGroup()
        self.create_subscription(LowCmd, topics.LOWCMD, self._on_lowcmd, COMMAND_QOS, callback_group=commands)
        for s in SIDES:
            self.create_subscription(HandCmd, topics.DEX3_CMD[s], lambda msg, s=s: self._on_hand_cmd(s, msg),
                                     COMMAND_QOS, callback_group=commands)
        self.create_subscription(SimBaseCommand, topics.SIM_BASE_COMMAND, self._on_base_cmd, COMMAND_QOS,
                                 callback_group=commands)
        self.create_service(ResetSim, topics.SIM_RESET, self._on_reset, callback_group=ReentrantCallbackGroup())
        self.create_timer(self.cfg.diagnostics_period, self._publish_diagnostics)

        self._lowstate = LowStateWriter(self.cfg.mode_machine,
                                        [1] * g1.NUM_BODY + [0] * (NUM_MOTORS - g1.NUM_BODY))  # body motors on
        self._hand_msg = {s: HandState(motor_state=[MotorState() for _ in range(g1.NUM_HAND)]) for s in SIDES}
        self._info = self._camera_info()
        self.image_rate = RateMeter()

        self.runtime = SimRuntime(self.sim, self._publish_lowstate, self._publish_hand, self._publish_frame,
                                  self._publish_task, clock_ns=lambda: self.get_clock().now().nanoseconds)
        self.runtime.start()
        self.get_logger().info(
            f"simulated G1 running: base {self.cfg.base_mode}, physics {self.cfg.physics_rate:g} Hz, camera "
            f"{self.cfg.camera_width}x{self.cfg.camera_height} @ {self.cfg.camera_rate:g} Hz "
            f"({'on' if self.cfg.camera_enabled else 'off'}), task {self.sim.task.name} seed {self.sim.seed}")

    def _set_priority(self, nice: int) -> None:
        if nice == 0:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError as exc:
            self.get_logger().warn(f"cannot set niceness {nice} ({exc}); running at the default priority")

    # ------------------------------------------------------------- commands
    def _on_lowcmd(self, msg: LowCmd) -> None:
        with self.sim.lock:
            self.sim.apply_lowcmd(lowcmd_to_data(msg))

    def _on_hand_cmd(self, side: str, msg: HandCmd) -> None:
        cmds = msg.motor_cmd
        cols = [[getattr(c, f) for c in cmds] for f in ("q", "dq", "tau", "kp", "kd", "mode")]
        with self.sim.lock:
            self.sim.apply_hand_cmd(side, *cols)

    def _on_base_cmd(self, msg: SimBaseCommand) -> None:
        with self.sim.lock:
            ok = self.sim.apply_base_command(msg.vx, msg.vy, msg.yaw_rate, msg.height)
        if not ok:
            self.get_logger().warn("ignored a SimBaseCommand holding NaN/Inf", throttle_duration_sec=2.0)

    def _on_reset(self, request: ResetSim.Request, response: ResetSim.Response) -> ResetSim.Response:
        ok, message, seed = self.runtime.request_reset(int(request.seed), request.task)
        response.success, response.message, response.seed = ok, message, int(seed) & 0xFFFFFFFF
        if ok:
            self.get_logger().info(message)
        else:
            self.get_logger().error(f"reset refused: {message}")
        return response

    # ------------------------------------------------------------ publishing
    def _safe_publish(self, pub, msg) -> None:
        if self._closed:
            return
        try:
            pub.publish(msg)
        except Exception:  # context already shut down (Ctrl-C): the runtime stops next
            if rclpy.ok(context=self.context):
                raise

    def _publish_lowstate(self, s: LowStateData) -> None:
        # 500 Hz: serialized straight from the arrays (psi0_common.cdr), not through 35 message objects
        raw = self._lowstate.serialize(s.tick, s.quaternion, s.gyroscope, s.accelerometer, s.rpy, s.q, s.dq,
                                       s.ddq, s.tau_est)
        self._safe_publish(self.pub_lowstate, raw)

    def _publish_hand(self, side: str, s: HandStateData) -> None:
        msg = self._hand_msg[side]
        q, dq, ddq, tau = s.q.tolist(), s.dq.tolist(), s.ddq.tolist(), s.tau_est.tolist()
        for i, m in enumerate(msg.motor_state):
            m.q, m.dq, m.ddq, m.tau_est = q[i], dq[i], ddq[i], tau[i]
        self._safe_publish(self.pub_hand[side], msg)

    def _camera_info(self) -> CameraInfo:
        k = self.runtime_intrinsics()
        info = CameraInfo(width=k.width, height=k.height, distortion_model="plumb_bob")
        info.header.frame_id = self.cfg.camera_frame_id
        info.d = [0.0] * 5
        info.k = k.k()
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = k.p()
        return info

    def runtime_intrinsics(self):
        from psi0_sim.camera import intrinsics
        return intrinsics(self.sim.model, "head_camera", self.cfg.camera_width, self.cfg.camera_height)

    def _publish_frame(self, f: Frame) -> None:
        msg = Image(height=f.image.shape[0], width=f.image.shape[1], encoding="rgb8", is_bigendian=0,
                    step=f.image.shape[1] * 3)
        msg.header.frame_id = self.cfg.camera_frame_id
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(f.stamp_ns, 1_000_000_000)
        msg.data = f.image.tobytes()
        self._info.header.stamp = msg.header.stamp
        self._safe_publish(self.pub_image, msg)
        self._safe_publish(self.pub_info, self._info)
        self.image_rate.tick()

    def _publish_task(self, t: TaskStatus) -> None:
        msg = TaskState(task=t.task, instruction=t.instruction, seed=t.seed & 0xFFFFFFFF, success=t.success,
                        predicate_names=list(t.predicates), predicate_values=list(t.predicates.values()),
                        elapsed=float(t.elapsed))
        msg.header.stamp = self.get_clock().now().to_msg()
        self._safe_publish(self.pub_task, msg)

    def _publish_diagnostics(self) -> None:
        rt = self.runtime
        values = {"real_time_factor": f"{rt.real_time_factor:.3f}",
                  "physics_rate_hz": f"{rt.physics_rate.rate():.1f}",
                  "image_rate_hz": f"{self.image_rate.rate():.1f}",
                  "overruns": str(rt.overruns), "frames_dropped": str(rt.frames_dropped),
                  "base_mode": self.sim.base_mode, "seed": str(self.sim.seed)}
        with self.sim.lock:
            values.update({k: str(v) for k, v in self.sim.counters().items()})
            values["body_command"] = ("timed_out" if self.sim.body.timed_out else
                                      "active" if self.sim.body.has_command else "holding_default_pose"
                                      if self.cfg.hold_default_pose else "limp")
            values["unstable_physics_resets"] = str(self.sim.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number)
        rejected = sum(int(v) for k, v in values.items() if "rejected" in k)
        level, message = DiagnosticStatus.OK, "running"
        if rt.physics_error:
            level, message = DiagnosticStatus.ERROR, rt.physics_error
        elif rt.render_error:
            level, message = DiagnosticStatus.ERROR, rt.render_error
        elif rt.real_time_factor < 0.9:
            level, message = DiagnosticStatus.WARN, f"slower than real time (RTF {rt.real_time_factor:.2f})"
        elif rejected:
            level, message = DiagnosticStatus.WARN, f"{rejected} commands rejected so far"
        status = DiagnosticStatus(level=level, name="psi0_sim: simulated G1", message=message,
                                  hardware_id="psi0_sim",
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self._safe_publish(self.pub_diag, arr)

    def close(self) -> None:
        self._closed = True
        self.runtime.stop()


def main(args=None) -> int:
    return run_node(lambda: SimNode(), args=args, threads=2)


if __name__ == "__main__":
    raise SystemExit(main())
