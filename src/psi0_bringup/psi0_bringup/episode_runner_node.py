"""episode_runner: runs seeded episodes in simulation, then exits (a job node).

Per episode: reset the sim with the seed, wait `settle`, start the driver
(record: the recorder's StartEpisode; driver=policy: activate the policy
lifecycle node), wait for the task detector's success (held `success_hold` s)
or the timeout, stop the driver, score. Between episodes, and throughout with
`driver: hold`, it publishes the standing action so the AMO bridge holds the
robot still. It measures what the driver did (action and /lowcmd rates,
inference latency, seam jumps, dropped ticks), optionally writes the head
camera to an MP4, writes the summary and shuts down with exit code 0, which
stops the whole graph (it is a required node in its profiles).
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from psi0_bringup.episodes import ActionSeamMeter, EpisodeResult, EpisodeRunnerConfig, RunSummary
from psi0_bringup.video import VideoWriter
from psi0_common import action_layout, topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_msgs.msg import ActionChunk, PolicyStatus, TaskState, WholeBodyAction
from psi0_msgs.srv import ResetSim, SetTask, StartEpisode, StopEpisode
from unitree_hg.msg import LowCmd


class EpisodeMeter:
    """What happened during one episode, filled from subscription callbacks."""

    def __init__(self):
        self.actions = 0
        self.lowcmds = 0
        self.latencies: list[float] = []
        self.seams = ActionSeamMeter()
        self.dropped_at_start: int | None = None
        self.dropped_last = 0
        self.predicates: set[str] = set()   # task predicates that were true at some point


class EpisodeRunner(Node):
    def __init__(self):
        super().__init__("episode_runner")
        self.cfg: EpisodeRunnerConfig = declare_config(self, EpisodeRunnerConfig)
        self.exit_code = 0
        self.finished = threading.Event()
        self._task_state: TaskState | None = None
        self._success_since: float | None = None
        self._meter: EpisodeMeter | None = None
        self._video: VideoWriter | None = None
        # Standing action between episodes (and throughout for driver=hold); never
        # with driver=teleop, whose actions are the ones being recorded.
        self._hold_standing = threading.Event()
        if self.cfg.driver != "teleop":
            self._hold_standing.set()
        self.reset_client = self.create_client(ResetSim, topics.SIM_RESET)
        self.set_task_client = self.create_client(SetTask, topics.SET_TASK)
        self.start_client = self.create_client(StartEpisode, topics.START_EPISODE)
        self.stop_client = self.create_client(StopEpisode, topics.STOP_EPISODE)
        self.rearm_client = self.create_client(Trigger, topics.ESTOP_RESET)
        self.policy_change = self.create_client(ChangeState, f"/{self.cfg.policy_node}/change_state")
        self.policy_state = self.create_client(GetState, f"/{self.cfg.policy_node}/get_state")
        self.action_pub = self.create_publisher(WholeBodyAction, topics.ACTION,
                                                QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.create_subscription(TaskState, topics.SIM_TASK_STATE, self._on_task_state, 10)
        self.create_subscription(WholeBodyAction, topics.ACTION, self._on_action, 10)
        self.create_subscription(LowCmd, topics.LOWCMD, self._on_lowcmd, qos_profile_sensor_data)
        self.create_subscription(PolicyStatus, topics.POLICY_STATUS, self._on_status, 10)
        self.create_subscription(ActionChunk, topics.ACTION_CHUNK, self._on_chunk, 10)
        if self.cfg.video_path:
            self.create_subscription(Image, topics.IMAGE, self._on_image, qos_profile_sensor_data)
        self.create_timer(1.0 / 30.0, self._publish_standing)
        self.summary = RunSummary(self.cfg.label or self.cfg.driver, self.cfg.mode, self.cfg.task)
        threading.Thread(target=self._run_all, daemon=True).start()

    # ---- callbacks ------------------------------------------------------------------
    def _on_task_state(self, msg: TaskState) -> None:
        self._task_state = msg
        m = self._meter
        if m is not None:
            m.predicates.update(n for n, v in zip(msg.predicate_names, msg.predicate_values) if v)
        if msg.success:
            self._success_since = self._success_since or time.monotonic()
        else:
            self._success_since = None

    def _on_action(self, msg: WholeBodyAction) -> None:
        m = self._meter
        if m is not None and not self._hold_standing.is_set():
            m.actions += 1
            if msg.chunk_id > 0:   # policy chunks (this node's standing action and teleop carry 0)
                m.seams.add(msg.chunk_id, msg.action, msg.chunk_index)

    def _on_chunk(self, msg: ActionChunk) -> None:
        m = self._meter
        if m is not None:
            m.seams.note_chunk(msg.chunk_id, msg.delay_steps)

    def _on_lowcmd(self, _msg: LowCmd) -> None:
        if self._meter is not None:
            self._meter.lowcmds += 1

    def _on_status(self, msg: PolicyStatus) -> None:
        m = self._meter
        if m is None or msg.state != PolicyStatus.STATE_ACTIVE:
            return
        if m.dropped_at_start is None:
            m.dropped_at_start = msg.dropped_ticks
        m.dropped_last = msg.dropped_ticks
        if msg.inference_latency > 0 and (not m.latencies or m.latencies[-1] != msg.inference_latency):
            m.latencies.append(float(msg.inference_latency))

    def _on_image(self, msg: Image) -> None:
        if self._video is not None and self._meter is not None and msg.encoding == "rgb8":
            frame = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
            self._video.add(frame)

    def _publish_standing(self) -> None:
        if self._hold_standing.is_set():
            msg = WholeBodyAction(source=WholeBodyAction.SOURCE_POLICY)
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.action = action_layout.standing_action().astype("float32")
            self.action_pub.publish(msg)

    # ---- service helpers --------------------------------------------------------------
    def _call(self, client, request, what: str, timeout: float | None = None, check: bool = True):
        timeout = timeout or self.cfg.service_timeout
        if not client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError(f"{what}: service {client.srv_name} not available after {timeout:g} s")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise RuntimeError(f"{what}: no answer from {client.srv_name} in {timeout:g} s")
        result = future.result()
        if check and hasattr(result, "success") and not result.success:
            raise RuntimeError(f"{what} refused: {getattr(result, 'message', '')}")
        return result

    def _policy(self, transition_id: int, label: str, timeout: float | None = None) -> None:
        self._call(self.policy_change, ChangeState.Request(transition=Transition(id=transition_id)),
                   f"policy {label}", timeout)

    def _prepare_policy(self) -> None:
        """Bring the policy node to INACTIVE (configured, model loaded, not publishing)."""
        state = self._call(self.policy_state, GetState.Request(), "policy state").current_state.id
        if state == State.PRIMARY_STATE_UNCONFIGURED:
            self.get_logger().info("configuring the policy (load + warm-up)")
            self._policy(Transition.TRANSITION_CONFIGURE, "configure", self.cfg.policy_configure_timeout)
        elif state == State.PRIMARY_STATE_ACTIVE:
            self._policy(Transition.TRANSITION_DEACTIVATE, "deactivate")

    # ---- the job ----------------------------------------------------------------------
    def _run_all(self) -> None:
        log = self.get_logger()
        try:
            if self.cfg.driver == "policy":
                self._prepare_policy()
            if self.cfg.video_path:
                self._video = VideoWriter(self.cfg.video_path, fps=30)
            for i in range(self.cfg.episodes):
                result = self._run_episode(i, self.cfg.first_seed + i)
                self.summary.episodes.append(result)
                log.info(f"episode {i + 1}/{self.cfg.episodes} seed {result.seed}: "
                         f"{'SUCCESS' if result.success else 'FAIL'} ({result.reason}, {result.duration:.1f} s); "
                         f"running {self.summary.line()}")
                if self.cfg.summary_path:  # after every episode: a run stopped part-way keeps what it did
                    self.summary.write(self.cfg.summary_path)
                if self._video is not None and i + 1 >= self.cfg.video_episodes:
                    self._close_video()
        except Exception as exc:  # a broken graph: report, fail the run
            log.error(f"episode run aborted: {exc}")
            self.exit_code = 1
        self._close_video()
        log.info("RESULT " + self.summary.line())
        if self.summary.episodes and self.cfg.driver != "teleop":
            log.info("CONTROL " + self.summary.control_line())
        if self.cfg.summary_path:
            self.summary.write(self.cfg.summary_path)
            log.info(f"summary written to {self.cfg.summary_path}")
        self.finished.set()   # run_node stops spinning and shuts down from the main thread

    def _close_video(self) -> None:
        if self._video is not None:
            video, self._video = self._video, None
            frames = video.close()
            self.get_logger().info(f"video: {frames} frames written to {self.cfg.video_path}")

    def _run_episode(self, index: int, seed: int) -> EpisodeResult:
        cfg = self.cfg
        self._call(self.reset_client, ResetSim.Request(seed=seed, task=cfg.task), "sim reset")
        self._task_state = None
        if cfg.rearm_bridge:
            answer = self._call(self.rearm_client, Trigger.Request(), "bridge reset", check=False)
            if answer.success:   # otherwise "nothing to reset": the bridge was not latched
                self.get_logger().warn(f"bridge was latched after episode {index}; {answer.message}")
        time.sleep(cfg.settle)
        instruction = cfg.instruction or (self._task_state.instruction if self._task_state else cfg.task)
        bag = ""
        if cfg.mode == "record":
            bag = self._call(self.start_client, StartEpisode.Request(task=instruction, operator_name=cfg.operator_name),
                             "start recording").path
        meter = EpisodeMeter()
        if cfg.driver == "policy":
            self._call(self.set_task_client, SetTask.Request(task=instruction), "set task")
            self._hold_standing.clear()
            self._policy(Transition.TRANSITION_ACTIVATE, "activate")
        self._success_since = None
        self._meter = meter
        start = time.monotonic()
        reason = "timeout"
        while time.monotonic() - start < cfg.timeout:
            if self._success_since is not None and time.monotonic() - self._success_since >= cfg.success_hold:
                reason = "success"
                break
            time.sleep(0.02)
        duration = time.monotonic() - start
        self._meter = None
        if cfg.driver == "policy":
            self._policy(Transition.TRANSITION_DEACTIVATE, "deactivate")
            self._hold_standing.set()
        if cfg.driver != "teleop" and cfg.return_time > 0:
            time.sleep(cfg.return_time)       # standing action: the arms go back before the next reset
        if cfg.mode == "record":
            self._call(self.stop_client, StopEpisode.Request(discard=False), "stop recording")
        success = reason == "success"
        t_success = (self._success_since - start) if success and self._success_since else math.nan
        result = EpisodeResult(index, seed, success, duration, t_success, reason, bag,
                               lowcmd_rate_hz=meter.lowcmds / duration)
        if cfg.driver != "hold":
            result.action_rate_hz = meter.actions / duration
        if meter.latencies:
            result.latency_mean_s = float(np.mean(meter.latencies))
            result.latency_max_s = float(np.max(meter.latencies))
        meter.seams.fill(result)
        result.predicates_seen = sorted(meter.predicates)
        if meter.dropped_at_start is not None:
            result.dropped_ticks = meter.dropped_last - meter.dropped_at_start
        return result


def main(args=None):
    return run_node(EpisodeRunner, args)


if __name__ == "__main__":
    raise SystemExit(main())
