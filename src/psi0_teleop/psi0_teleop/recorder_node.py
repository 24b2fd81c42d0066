"""Episode recorder node: raw subscriptions -> EpisodeRecorder (one rosbag2 MCAP per episode).

Subscribes each configured topic as serialized messages (raw=True) once a
publisher appears, with the publishers' reliability (reliable only if every
publisher offers it, as rosbag2 does). Start/stop through the psi0_msgs
StartEpisode / StopEpisode services or console keys (s + Enter: start,
x + Enter: stop, d + Enter: stop and mark discarded). Publisher counts on
/psi0/published_counts feed the loss report; the report is logged, stored
in the bag's custom_data and published on /psi0/recorder/status (JSON).
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
from psi0_msgs.srv import StartEpisode, StopEpisode
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from psi0_common import topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_teleop.config import RECORDER_STATUS, RecorderConfig
from psi0_teleop.pubcount import COUNTS_TOPIC
from psi0_teleop.recorder import EpisodeRecorder, RecorderError
from psi0_teleop.ros.convert import counts_from_msg


def make_executor(kind: str, context):
    # rclpy.experimental.EventsExecutor would be faster but hangs in shutdown() here (rclpy 10, Kilted).
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=2, context=context)


def get_message(msgtype: str):
    """'pkg/msg/Type' -> the generated Python class (rosidl_runtime_py is not installed on pip-only machines)."""
    pkg, kind, name = msgtype.split("/")
    if kind != "msg":
        raise ValueError(f"{msgtype} is not a message type")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class RecorderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("episode_recorder", **kwargs)
        self.cfg = declare_config(self, RecorderConfig)
        if self.cfg.nice:
            try:
                os.nice(self.cfg.nice)
            except OSError as exc:
                self.get_logger().warning(f"cannot change niceness by {self.cfg.nice}: {exc}")
        self.rec = EpisodeRecorder(self.cfg.output_dir, self.cfg.storage, queue_size=self.cfg.queue_size,
                                   flush_interval=self.cfg.flush_interval, topics=self.cfg.topics,
                                   log=lambda m: self.get_logger().error(m))
        self.subs = {}
        self.last_task = self.cfg.task
        self.data_group = ReentrantCallbackGroup()
        # Data subscriptions live on their own node, spun by their own executor thread, so the
        # high-rate raw callbacks neither wait behind services/timers nor pay for the
        # MultiThreadedExecutor's per-callback overhead.
        self.data_node = Node(f"{self.get_name()}_data", context=self.context, use_global_arguments=False,
                              start_parameter_services=False)
        self.data_executor = make_executor(self.cfg.data_executor, self.context)
        self.data_executor.add_node(self.data_node)
        self.data_thread = threading.Thread(target=self._spin_data, name="recorder-data", daemon=True)
        self.data_thread.start()
        ctl = MutuallyExclusiveCallbackGroup()
        self.pub_status = self.create_publisher(String, RECORDER_STATUS, 10)
        self.create_subscription(DiagnosticArray, COUNTS_TOPIC, self.on_counts, 100, callback_group=self.data_group)
        self.create_subscription(String, topics.TASK, self.on_task, 10)
        self.create_service(StartEpisode, topics.START_EPISODE, self.on_start, callback_group=ctl)
        self.create_service(StopEpisode, topics.STOP_EPISODE, self.on_stop, callback_group=ctl)
        self.create_timer(self.cfg.discovery_period, self.discover)
        self.create_timer(1.0, self.publish_status)
        self.discover()
        if self.cfg.console_keys and sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=self.console, daemon=True).start()
            self.get_logger().info("console: s + Enter starts an episode, x + Enter stops it, d + Enter discards it")
        self.get_logger().info(f"recorder ready: {len(self.cfg.topics)} topics -> {self.cfg.output_dir}")

    # -- subscriptions ------------------------------------------------------------------------
    def discover(self) -> None:
        for topic in self.cfg.topics:
            if topic in self.subs:
                continue
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:
                continue
            types = {i.topic_type for i in infos}
            if len(types) > 1:
                self.get_logger().error(f"{topic}: publishers disagree on the type {sorted(types)}; not recorded")
                self.subs[topic] = None
                continue
            msgtype = types.pop()
            reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.cfg.history_depth,
                             reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.VOLATILE)
            try:
                cls = get_message(msgtype)
            except (AttributeError, ModuleNotFoundError, ValueError) as exc:
                self.get_logger().error(f"{topic}: cannot load type {msgtype}: {exc}")
                self.subs[topic] = None
                continue
            clock = self.data_node.get_clock()
            self.subs[topic] = self.data_node.create_subscription(
                cls, topic, lambda raw, t=topic, m=msgtype: self.rec.on_message(t, m, raw, clock.now().nanoseconds),
                qos, raw=True)
            self.get_logger().info(f"recording {topic} [{msgtype}] ({'reliable' if reliable else 'best effort'})")

    def _spin_data(self) -> None:
        try:
            self.data_executor.spin()
        except Exception as exc:  # shutdown races end the spin; anything else is reported
            if self.context.ok():
                self.get_logger().error(f"data executor stopped: {exc}")

    def on_counts(self, msg: DiagnosticArray) -> None:
        for node, counts in counts_from_msg(msg):
            self.rec.on_counts(node, counts)

    def on_task(self, msg: String) -> None:
        self.last_task = msg.data

    # -- control ------------------------------------------------------------------------------
    def start(self, task: str, operator: str) -> str:
        task = task or self.last_task
        operator = operator or self.cfg.operator_name
        path = self.rec.start(task, operator)
        self.get_logger().info(f"episode started: {path} (task {task!r}, operator {operator!r})")
        self.publish_status()
        return path

    def stop(self, discard: bool):
        report = self.rec.stop(discard=discard, drain=self.cfg.stop_drain)
        self.get_logger().info("episode stopped\n" + report.table())
        self.publish_status(report)
        return report

    def on_start(self, req, res):
        try:
            res.path = self.start(req.task, req.operator_name)
            res.success, res.message = True, "recording"
        except (RecorderError, OSError) as exc:
            res.success, res.message = False, str(exc)
        return res

    def on_stop(self, req, res):
        try:
            report = self.stop(bool(req.discard))
            res.success, res.path = True, report.path
            lost = sum(t.lost or 0 for t in report.topics)
            res.message = json.dumps({"lost": lost, "write_errors": report.write_errors,
                                      "written": {t.topic: t.written for t in report.topics}})
        except RecorderError as exc:
            res.success, res.message = False, str(exc)
        return res

    def console(self) -> None:
        for line in sys.stdin:
            key = line.strip().lower()
            try:
                if key == "s":
                    self.start("", "")
                elif key in ("x", "d"):
                    self.stop(discard=key == "d")
            except RecorderError as exc:
                self.get_logger().warning(str(exc))

    def publish_status(self, report=None) -> None:
        d = {"recording": self.rec.recording, "subscribed": sorted(t for t, s in self.subs.items() if s),
             "writer_error": self.rec.writer_error}
        if report is not None:
            d["last_episode"] = json.loads(report.to_json())
        self.pub_status.publish(String(data=json.dumps(d)))

    def close(self) -> None:
        report = self.rec.close()
        try:
            self.data_executor.shutdown(timeout_sec=2.0)
        except Exception:
            pass
        self.data_node.destroy_node()
        if report is not None:
            self.get_logger().info("episode closed on shutdown\n" + report.table())


def main(args=None) -> int:
    return run_node(lambda: RecorderNode(), args=args, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
