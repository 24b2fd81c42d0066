"""Psi0 VLA policy node: head image + robot state + task -> 36-D whole-body actions at 30 Hz.

A thin rclpy adapter around ChunkPolicy (model) and RtcRuntime (real-time chunking),
as a managed (lifecycle) node: configure loads the checkpoint and warms it up,
activate starts the 30 Hz control thread, deactivate stops publishing and keeps
the model loaded, cleanup unloads. With `autostart` (default) it configures and
activates itself, so it runs without a lifecycle manager; `ros2 lifecycle set
/psi0_policy deactivate` etc. work as usual.
"""
from __future__ import annotations

import functools
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from psi0_msgs.msg import ActionChunk, PolicyStatus, WholeBodyAction
from psi0_msgs.srv import SetTask
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String
from unitree_hg.msg import HandState, LowState

from psi0_common import topics
from psi0_common.action_layout import BASE_HEIGHT, standing_action
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_common.rosutil.unitree_msgs import lowstate_fields
from psi0_common.rosutil.unspun import reader_node, take_newest
from psi0_policy.model.checkpoint import trained_max_delay
from psi0_policy.model.policy import ChunkPolicy, Observation
from psi0_policy.model.process_policy import ProcessPolicy
from psi0_policy.observation import ObservationCache
from psi0_policy.policy_config import PolicyNodeConfig, resolve_max_delay
from psi0_policy.rtc import ControlLoop, RtcConfig, RtcRuntime

HELD_INDEX = 0xFFFF  # WholeBodyAction.chunk_index of a held action (dry buffer or sync pause)


def image_to_array(msg: Image) -> np.ndarray:
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} is not rgb8 (or bgr8)")
    if msg.step < msg.width * 3 or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image {msg.width}x{msg.height} has step {msg.step} and {len(msg.data)} bytes")
    a = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
    a = a.reshape(msg.height, msg.width, 3)
    return np.ascontiguousarray(a[..., ::-1] if msg.encoding == "bgr8" else a)


class PolicyNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("psi0_policy", **kwargs)
        self.cfg = declare_config(self, PolicyNodeConfig)
        c = self.cfg
        self.cache = ObservationCache(c.max_image_age, c.max_state_age, c.task, c.base_height_source)
        self.policy: ChunkPolicy | None = None
        self.runtime: RtcRuntime | None = None
        self.loop: ControlLoop | None = None
        self.state = PolicyStatus.STATE_UNCONFIGURED
        self.error = ""
        self._last_reason, self._last_reason_log = "", 0.0
        cmd = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_action = self.create_publisher(WholeBodyAction, topics.ACTION, cmd)
        self.pub_chunk = self.create_publisher(ActionChunk, topics.ACTION_CHUNK, 5)
        self.pub_status = self.create_publisher(PolicyStatus, topics.POLICY_STATUS, 5)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 5)
        self.create_subscription(Image, topics.IMAGE, self._on_image, qos_profile_sensor_data)
        # LowState arrives at 500 Hz but is read once per chunk: the inference thread takes the newest
        # from a subscription no executor spins (500 executor wake-ups and rclpy deserializations a
        # second cost ~30% of a core and contend with inference for the GIL).
        self._reader = reader_node(self, "lowstate_reader")
        self._lowstate_sub = self._reader.create_subscription(LowState, topics.LOWSTATE, lambda _: None,
                                                              qos_profile_sensor_data, raw=True)
        for side, name in topics.DEX3_STATE.items():
            self.create_subscription(HandState, name, lambda m, s=side: self._on_hand(s, m), qos_profile_sensor_data)
        self.create_subscription(String, topics.TASK, lambda m: self._set_task(m.data), 10)
        self.create_service(SetTask, topics.SET_TASK, self._on_set_task)
        self.create_timer(1.0 / c.status_hz, self._publish_status)
        if c.autostart:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # ---- inputs ----------------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        try:
            self.cache.set_image(image_to_array(msg), time.monotonic())
            self.cache.image_error = ""
        except ValueError as exc:
            self.cache.image_error = str(exc)
            self.get_logger().error(f"dropping image: {exc}", throttle_duration_sec=5.0)

    def _take_lowstate(self) -> None:
        got = take_newest(self._lowstate_sub)
        if got is not None:
            raw, age = got
            self.cache.set_body(lowstate_fields(raw).q, time.monotonic() - age)  # aged by its arrival

    def _on_hand(self, side: str, msg: HandState) -> None:
        if len(msg.motor_state) != 7:
            self.get_logger().error(f"{side} HandState has {len(msg.motor_state)} motors, expected 7",
                                    throttle_duration_sec=5.0)
            return
        self.cache.set_hand(side, [m.q for m in msg.motor_state], time.monotonic())

    def _set_task(self, task: str) -> tuple[bool, str]:
        task = task.strip()
        if not task:
            return False, "empty task rejected; the current task is kept"
        self.cache.set_task(task)
        self.get_logger().info(f"task: {task!r}")
        return True, f"task set to {task!r}"

    def _on_set_task(self, req, resp):
        resp.success, resp.message = self._set_task(req.task)
        return resp

    def _observe(self):
        self._take_lowstate()
        return self.cache.get(time.monotonic())

    # ---- lifecycle -------------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        c = self.cfg
        log = self.get_logger()
        try:
            if c.torch_threads > 0:
                torch.set_num_threads(c.torch_threads)
            if c.checkpoint:
                factory = functools.partial(ChunkPolicy.from_checkpoint, c.checkpoint, device=c.device,
                                            dtype=c.dtype or None, num_steps=c.flow_steps or None, seed=c.seed)
            else:
                log.warning(f"NO CHECKPOINT: using a RANDOMLY INITIALISED '{c.model_size}' model. Its actions are "
                            "meaningless (centred on the standing pose); for smoke runs only, never on a robot.")
                factory = functools.partial(ChunkPolicy.random, c.model_size, device=c.device, seed=c.seed,
                                            num_steps=c.flow_steps or None)
            if c.inference_process:
                self.policy = ProcessPolicy(factory, torch_threads=c.torch_threads)
            else:
                self.policy = factory()
            where = "a child process" if c.inference_process else "this process"
            log.info(f"policy {c.checkpoint or '(random)'} loaded in {where} on {c.device}")
            trained = trained_max_delay(c.checkpoint) if c.checkpoint else None
            max_delay, warning = resolve_max_delay(c.max_delay, trained)
            if warning:
                log.warning(warning)
            rcfg = RtcConfig(mode=c.mode, horizon=self.policy.horizon, s_min=c.s_min, delay_buffer=c.delay_buffer,
                             initial_delay=c.initial_delay, max_delay=max_delay, control_hz=c.control_hz)
            log.info(f"rtc: horizon {rcfg.horizon}, s_min {rcfg.s_min}, max delay {max_delay}"
                     + (" (from the checkpoint)" if c.max_delay == 0 and trained is not None else ""))
            stand = standing_action()
            warm = Observation(np.zeros((240, 320, 3), np.uint8), stand[:32], "warm up")
            times = self.policy.warmup(warm, c.warmup_runs)
            if times:
                log.info(f"warm-up latencies (excluded from delay estimates): "
                         + ", ".join(f"{t * 1e3:.0f} ms" for t in times))
            self.runtime = RtcRuntime(self.policy, rcfg, self._observe, on_chunk=self._on_chunk,
                                      injected_latency=c.min_latency, logger=_RosLogAdapter(log))
            if c.min_latency > 0:
                log.warning(f"min_latency {c.min_latency:.3f} s: every chunk is held back to at least that (experiment)")
            self.runtime.start()
            self.loop = ControlLoop(self.runtime.tick, c.control_hz, self._on_tick, rt_priority=c.control_rt_priority)
        except Exception as exc:  # bad checkpoint / config mismatch: stay unconfigured and say why
            self.error = f"configure failed: {exc}"
            self.state = PolicyStatus.STATE_ERROR
            log.error(self.error)
            if isinstance(self.policy, ProcessPolicy):
                self.policy.close()
            self.policy = self.runtime = self.loop = None
            return TransitionCallbackReturn.FAILURE
        self.error = ""
        self.state = PolicyStatus.STATE_INACTIVE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.runtime.reset()
        self.loop.start()
        time.sleep(0.05)
        if self.loop.rt_error:
            self.get_logger().warning(self.loop.rt_error + "; the control thread runs with normal priority")
        self.state = PolicyStatus.STATE_ACTIVE
        self.get_logger().info(f"active: {self.cfg.mode} at {self.cfg.control_hz:g} Hz")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        if self.loop is not None:
            self.loop.stop()
        self.state = PolicyStatus.STATE_INACTIVE
        self.get_logger().info("inactive: no actions are published; the model stays loaded")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.close()
        self.policy = self.runtime = self.loop = None
        self.state = PolicyStatus.STATE_UNCONFIGURED
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self):
        self._reader.destroy_node()
        super().destroy_node()

    def close(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self.runtime is not None:
            self.runtime.stop()
        if isinstance(self.policy, ProcessPolicy):
            self.policy.close()

    # ---- outputs (control thread) ----------------------------------------------------------------------
    def _on_tick(self, out) -> None:
        if out.action is None:
            return
        msg = WholeBodyAction()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.source = WholeBodyAction.SOURCE_POLICY
        msg.chunk_id = out.chunk_id
        msg.chunk_index = out.index if out.index >= 0 else HELD_INDEX
        msg.action = out.action.astype(np.float32).tolist()
        self.pub_action.publish(msg)
        self.cache.set_commanded_height(float(out.action[BASE_HEIGHT]))

    def _on_chunk(self, chunk) -> None:
        msg = ActionChunk()
        age = max(0.0, time.monotonic() - chunk.obs_stamp) if chunk.obs_stamp > 0 else 0.0
        msg.header.stamp = (self.get_clock().now() - Duration(nanoseconds=int(age * 1e9))).to_msg()  # observation time
        msg.chunk_id = chunk.chunk_id
        msg.horizon, msg.dim = chunk.raw.shape
        msg.actions = chunk.raw.astype(np.float32).ravel().tolist()
        msg.start_step = max(0, chunk.start_step)
        msg.delay_steps = chunk.d
        msg.executed_steps = chunk.s
        msg.inference_latency = float(chunk.latency)
        self.pub_chunk.publish(msg)
        self._publish_status()

    def _publish_status(self) -> None:
        st = self.runtime.snapshot() if self.runtime is not None else None
        msg = PolicyStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.state = self.state
        msg.mode = self.cfg.mode
        msg.task = self.cache.task
        reason = self.error
        if st is not None:
            msg.chunk_id = st.last_chunk_id
            msg.delay_steps, msg.executed_steps = st.last_d, st.last_s
            msg.inference_latency = float(st.last_latency)
            msg.seam_jump = float(st.last_seam_jump)
            msg.dropped_ticks = st.dropped_ticks
            reason = reason or st.message
            if self.state == PolicyStatus.STATE_ACTIVE and st.chunks == 0 and not reason:
                reason = "waiting for the first chunk"
        if self.state == PolicyStatus.STATE_INACTIVE and not reason:
            reason = "inactive"
        msg.message = reason
        self.pub_status.publish(msg)
        self._log_reason(reason)
        self._publish_diagnostics(st, reason)

    def _log_reason(self, reason: str) -> None:
        now = time.monotonic()
        if reason.startswith("no new chunk") and (reason != self._last_reason or now - self._last_reason_log > 5.0):
            self.get_logger().warning(reason)
            self._last_reason_log = now
        self._last_reason = reason

    def _publish_diagnostics(self, st, reason: str) -> None:
        d = DiagnosticStatus()
        d.name = "psi0_policy: rtc"
        d.hardware_id = "psi0_policy"
        if self.state == PolicyStatus.STATE_ERROR:
            d.level = DiagnosticStatus.ERROR
        elif reason and reason not in ("inactive",):
            d.level = DiagnosticStatus.WARN
        else:
            d.level = DiagnosticStatus.OK
        d.message = reason or "ok"
        values = {"state": str(self.state), "mode": self.cfg.mode}
        if st is not None:
            values.update({
                "inference_latency_s": f"{st.last_latency:.4f}", "delay_steps_measured": str(st.last_delay),
                "d_prefix": str(st.last_d), "s_executed": str(st.last_s),
                "delay_estimate": str(self.runtime.delay_estimate), "seam_jump_rad": f"{st.last_seam_jump:.4f}",
                "max_seam_jump_rad": f"{st.max_seam_jump:.4f}", "dropped_ticks": str(st.dropped_ticks),
                "dry_ticks": str(st.dry_ticks), "paused_ticks": str(st.paused_ticks), "chunks": str(st.chunks),
                "delay_clamped": str(st.delay_clamped), "late_chunks": str(st.late_chunks),
                "inference_errors": str(st.inference_errors)})
        if self.loop is not None:
            j = self.loop.jitter_stats()
            values.update({"tick_jitter_p50_ms": f"{j['p50_ms']:.3f}", "tick_jitter_p99_ms": f"{j['p99_ms']:.3f}",
                           "missed_ticks": str(j["missed"])})
        d.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [d]
        self.pub_diag.publish(arr)


class _RosLogAdapter:
    """logging-style calls (%-formatting) for the ROS-free runtime, sent to the node's logger."""

    def __init__(self, logger):
        self._l = logger

    def warning(self, fmt, *args):
        self._l.warning(fmt % args, throttle_duration_sec=2.0)

    def error(self, fmt, *args):
        self._l.error(fmt % args, throttle_duration_sec=2.0)

    def info(self, fmt, *args):
        self._l.info(fmt % args)


def main(args=None):
    return run_node(lambda: PolicyNode(), args=args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
