"""Republish a rosbag2 recording over rclpy with its original timing (no `ros2 bag` needed).

Raw CDR bytes from the bag (read with rosbags) are published as they are
(`Publisher.publish(bytes)`); only with `restamp` is a message deserialized
(rclpy) to set its header stamp to now. Publishers use the message classes of
this install: a topic whose type is not importable here is skipped, with a
warning.
"""
from __future__ import annotations

import importlib
import threading
import time

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader

from psi0_common.topics import TASK as TASK_TOPIC
from psi0_training.data.bagio import bag_files
from psi0_training.replay_plan import Schedule, select_topics


def reader_custom_task(bag) -> str | None:
    from pathlib import Path

    return bag_files(Path(bag))[2].get("task")


def message_class(msgtype: str):
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def _qos(conn) -> QoSProfile:
    durability = DurabilityPolicy.VOLATILE
    for q in getattr(conn.ext, "offered_qos_profiles", []) or []:
        if getattr(getattr(q, "durability", None), "name", "") == "TRANSIENT_LOCAL":
            durability = DurabilityPolicy.TRANSIENT_LOCAL
    # Reliable publishers reach reliable and best-effort subscribers alike.
    return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


class BagReplayer:
    def __init__(self, node, bag, topics: list[str] | None = None, rate: float = 1.0, restamp: bool = False,
                 publish_task: bool = False, log=print):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.node, self.bag, self.rate, self.restamp, self.log = node, str(bag), rate, restamp, log
        with Reader(self.bag) as reader:
            available = {c.topic: c.msgtype for c in reader.connections}
            self.selected = select_topics(available, topics)
            self.publishers, self.classes = {}, {}
            for c in reader.connections:
                if c.topic not in self.selected or c.topic in self.publishers:
                    continue
                try:
                    cls = message_class(c.msgtype)
                except (ImportError, AttributeError, ValueError):
                    log(f"psi0 replay: skipping {c.topic}: message type {c.msgtype} is not installed here")
                    continue
                self.classes[c.topic] = cls
                self.publishers[c.topic] = node.create_publisher(cls, c.topic, _qos(c))
        self.task_msg = None
        if publish_task:
            self._task_publisher(reader_custom_task(self.bag))
        if not self.publishers:
            raise ValueError(f"{self.bag}: nothing to replay")

    def _task_publisher(self, task: str | None) -> None:
        """The bag's metadata task, latched on the task topic before each playback (policy nodes need one)."""
        from std_msgs.msg import String

        if not task:
            raise ValueError(f"{self.bag}: --publish-task, but the bag metadata has no 'task'")
        if TASK_TOPIC in self.publishers:
            raise ValueError(f"{self.bag}: records {TASK_TOPIC} itself; replay that topic instead of --publish-task")
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.task_msg = String(data=task)
        self.task_pub = self.node.create_publisher(String, TASK_TOPIC, qos)

    def wait_for_subscribers(self, timeout: float) -> bool:
        """Until every publisher has a subscriber (then a short settle) or `timeout` s; True if all matched."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pubs = list(self.publishers.values()) + ([self.task_pub] if self.task_msg is not None else [])
            if all(p.get_subscription_count() for p in pubs):
                time.sleep(min(0.2, max(0.0, end - time.monotonic())))
                return True
            time.sleep(0.02)
        return False

    def play_once(self, stop: threading.Event | None = None) -> int:
        published = 0
        with Reader(self.bag) as reader:
            conns = [c for c in reader.connections if c.topic in self.publishers]
            schedule = None
            if self.task_msg is not None:
                self.task_pub.publish(self.task_msg)
            for conn, ns, raw in reader.messages(connections=conns):
                if schedule is None:
                    schedule = Schedule(ns, time.monotonic(), self.rate)
                if not schedule.wait(ns, stop):
                    break
                self._publish(conn.topic, bytes(raw))
                published += 1
        return published

    def _publish(self, topic: str, raw: bytes) -> None:
        pub = self.publishers[topic]
        if self.restamp:
            msg = deserialize_message(raw, self.classes[topic])
            if hasattr(msg, "header"):
                msg.header.stamp = self.node.get_clock().now().to_msg()
                pub.publish(msg)
                return
        pub.publish(raw)

    def flush(self, timeout: float) -> list[str]:
        """Wait until every subscriber acknowledged what was published (reliable QoS), so exiting right after
        the last message does not drop it on the way; -> the topics still unacknowledged after `timeout`."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout
        pending = []
        for topic, pub in self.publishers.items():
            left = max(0.0, deadline - time.monotonic())
            if not pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
                pending.append(topic)
        return pending

    def run(self, loop: bool = False, stop: threading.Event | None = None) -> int:
        total = 0
        while True:
            total += self.play_once(stop)
            if not loop or (stop is not None and stop.is_set()):
                return total


def main(bag, topics=None, rate=1.0, loop=False, restamp=False, delay=1.0, publish_task=False) -> int:
    import rclpy

    rclpy.init()
    node = rclpy.create_node("psi0_replay")
    try:
        replayer = BagReplayer(node, bag, topics, rate, restamp, publish_task)
        node.get_logger().info(f"replaying {bag}: {', '.join(sorted(replayer.publishers))} at x{rate}"
                               + (" (loop)" if loop else ""))
        replayer.wait_for_subscribers(delay)  # messages sent before discovery would be lost
        n = replayer.run(loop)
        pending = replayer.flush(timeout=2.0)
        if pending:
            node.get_logger().warning(f"not acknowledged by every subscriber within 2 s: {', '.join(pending)}")
        node.get_logger().info(f"published {n} messages")
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
