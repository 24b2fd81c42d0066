"""episode_runner: runs seeded episodes in simulation, then exits (a job node).

Per episode: reset the sim with the seed, wait `settle`, start the driver
(record: the recorder's StartEpisode; eval: activate the policy node), wait
for the task detector's success (held `success_hold` s) or the timeout, stop
the driver, score. Between episodes, and throughout with `driver: hold`, it
publishes the standing action so the AMO bridge holds the robot still. When
all episodes are done it writes the summary and shuts down with exit code 0,
which stops the whole graph (it is a required node in the profile).
"""
from __future__ import annotations

import math
import threading
import time

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from psi0_bringup.episodes import EpisodeResult, EpisodeRunnerConfig, RunSummary
from psi0_common import action_layout, topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_msgs.msg import TaskState, WholeBodyAction
from psi0_msgs.srv import ResetSim, SetTask, StartEpisode, StopEpisode


class EpisodeRunner(Node):
    def __init__(self):
        super().__init__("episode_runner")
        self.cfg: EpisodeRunnerConfig = declare_config(self, EpisodeRunnerConfig)
        self.exit_code = 0
        self._task_state: TaskState | None = None
        self._success_since: float | None = None
        # Standing action between episodes (and throughout for driver=hold); never
        # with driver=teleop, whose actions are the ones being recorded.
        self._hold_standing = threading.Event()
        if self.cfg.driver != "teleop":
            self._hold_standing.set()
        self.reset_client = self.create_client(ResetSim, topics.SIM_RESET)
        self.set_task_client = self.create_client(SetTask, topics.SET_TASK)
        self.start_client = self.create_client(StartEpisode, topics.START_EPISODE)
        self.stop_client = self.create_client(StopEpisode, topics.STOP_EPISODE)
        self.policy_client = self.create_client(ChangeState, f"/{self.cfg.policy_node}/change_state")
        self.action_pub = self.create_publisher(WholeBodyAction, topics.ACTION,
                                                QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.create_subscription(TaskState, topics.SIM_TASK_STATE, self._on_task_state, 10)
        self.create_timer(1.0 / 30.0, self._publish_standing)
        self.summary = RunSummary(self.cfg.label or self.cfg.driver, self.cfg.mode, self.cfg.task)
        threading.Thread(target=self._run_all, daemon=True).start()

    # ---- callbacks ------------------------------------------------------------------
    def _on_task_state(self, msg: TaskState) -> None:
        self._task_state = msg
        now = time.monotonic()
        if msg.success:
            self._success_since = self._success_since or now
        else:
            self._success_since = None

    def _publish_standing(self) -> None:
        if self._hold_standing.is_set():
            msg = WholeBodyAction(source=WholeBodyAction.SOURCE_POLICY)
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.action = action_layout.standing_action().astype("float32")
            self.action_pub.publish(msg)

    # ---- service helpers --------------------------------------------------------------
    def _call(self, client, request, what: str):
        if not client.wait_for_service(timeout_sec=self.cfg.service_timeout):
            raise RuntimeError(f"{what}: service {client.srv_name} not available after {self.cfg.service_timeout:g} s")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(self.cfg.service_timeout):
            raise RuntimeError(f"{what}: no answer from {client.srv_name} in {self.cfg.service_timeout:g} s")
        result = future.result()
        if hasattr(result, "success") and not result.success:
            raise RuntimeError(f"{what} refused: {getattr(result, 'message', '')}")
        return result

    def _policy_transition(self, transition_id: int, label: str) -> None:
        self._call(self.policy_client, ChangeState.Request(transition=Transition(id=transition_id)), f"policy {label}")

    # ---- the job ----------------------------------------------------------------------
    def _run_all(self) -> None:
        log = self.get_logger()
        try:
            for i in range(self.cfg.episodes):
                result = self._run_episode(i, self.cfg.first_seed + i)
                self.summary.episodes.append(result)
                log.info(f"episode {i + 1}/{self.cfg.episodes} seed {result.seed}: "
                         f"{'SUCCESS' if result.success else 'FAIL'} ({result.reason}, {result.duration:.1f} s); "
                         f"running {self.summary.line()}")
        except Exception as exc:  # a broken graph: report, fail the run
            log.error(f"episode run aborted: {exc}")
            self.exit_code = 1
        log.info("RESULT " + self.summary.line())
        if self.cfg.summary_path:
            self.summary.write(self.cfg.summary_path)
            log.info(f"summary written to {self.cfg.summary_path}")
        rclpy.try_shutdown(context=self.context)

    def _run_episode(self, index: int, seed: int) -> EpisodeResult:
        cfg = self.cfg
        self._call(self.reset_client, ResetSim.Request(seed=seed, task=cfg.task), "sim reset")
        self._task_state = None
        time.sleep(cfg.settle)
        instruction = cfg.instruction or (self._task_state.instruction if self._task_state else cfg.task)
        bag = ""
        if cfg.mode == "record":
            bag = self._call(self.start_client, StartEpisode.Request(task=instruction, operator_name=cfg.operator_name),
                             "start recording").path
        if cfg.driver == "policy":
            self._call(self.set_task_client, SetTask.Request(task=instruction), "set task")
            self._hold_standing.clear()
            self._policy_transition(Transition.TRANSITION_ACTIVATE, "activate")
        self._success_since = None
        start = time.monotonic()
        reason = "timeout"
        while time.monotonic() - start < cfg.timeout:
            if self._success_since is not None and time.monotonic() - self._success_since >= cfg.success_hold:
                reason = "success"
                break
            time.sleep(0.02)
        duration = time.monotonic() - start
        if cfg.driver == "policy":
            self._policy_transition(Transition.TRANSITION_DEACTIVATE, "deactivate")
            self._hold_standing.set()
        if cfg.mode == "record":
            self._call(self.stop_client, StopEpisode.Request(discard=False), "stop recording")
        success = reason == "success"
        t_success = (self._success_since - start) if success and self._success_since else math.nan
        return EpisodeResult(index, seed, success, duration, t_success, reason, bag)


def main(args=None):
    return run_node(EpisodeRunner, args)


if __name__ == "__main__":
    raise SystemExit(main())
