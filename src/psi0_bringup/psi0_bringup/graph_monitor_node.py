"""graph_monitor: logs and publishes the rates of the graph's key topics."""
from __future__ import annotations

import importlib
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from psi0_bringup.monitor import MonitorConfig, RateTracker, format_reports
from psi0_common import topics
from psi0_common.rosutil.node_main import run_node
from psi0_common.rosutil.params import declare_config
from psi0_common.rosutil.unspun import reader_node, received_ns, take_queued

# Best effort like sensor data, but a deep queue: messages wait in the queue between drains (2 s of a
# 500 Hz topic) and each is counted at its middleware receive time (a depth of 5 under-reported a
# 100 Hz topic as 14 Hz on a loaded machine).
MONITOR_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=1000)
# The queues are drained by a timer rather than one executor callback per message: 500 Python
# wake-ups a second for /lowstate alone cost this process ~30% of a core.
DRAIN_PERIOD = 0.1


def received_time(info) -> float:
    """Wall-clock seconds the middleware received the message (now, if the RMW does not say)."""
    stamp = received_ns(info)
    return stamp * 1e-9 if stamp else time.time()


LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN, "STALE": DiagnosticStatus.STALE}


def message_class(type_name: str):
    """'pkg/msg/Type' -> the Python message class."""
    pkg, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


class GraphMonitor(Node):
    def __init__(self):
        super().__init__("graph_monitor")
        self.cfg = declare_config(self, MonitorConfig)
        self.trackers = {t: RateTracker(t, r, self.cfg.window)
                         for t, r in zip(self.cfg.topics, self.cfg.expected_rates)}
        self.subs = {}
        self._reader = reader_node(self, "reader")  # never spun: drain() takes from its subscriptions
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_timer(0.5, self.subscribe_new_topics)
        self.create_timer(DRAIN_PERIOD, self.drain)
        self.create_timer(self.cfg.report_period, self.report)
        self.get_logger().info(f"watching {', '.join(self.cfg.topics)}")

    def subscribe_new_topics(self):
        for name, types in self.get_topic_names_and_types():
            if name in self.trackers and name not in self.subs and types:
                tracker = self.trackers[name]
                self.subs[name] = (tracker, self._reader.create_subscription(
                    message_class(types[0]), name, lambda _msg: None, MONITOR_QOS, raw=True))

    def drain(self):
        """Count every queued message at its receive time (serialized bytes: nothing is deserialized)."""
        for tracker, sub in self.subs.values():
            for _, info in take_queued(sub, raw=True):
                tracker.tick(received_time(info))

    def destroy_node(self):
        self._reader.destroy_node()
        super().destroy_node()

    def report(self):
        self.drain()
        reports = [t.report(time.time()) for t in self.trackers.values()]
        self.get_logger().info("rates: " + format_reports(reports))
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        for r in reports:
            msg.status.append(DiagnosticStatus(
                level=LEVELS[r.level], name=f"graph_monitor: {r.topic}", hardware_id="psi0", message=r.message,
                values=[KeyValue(key="rate_hz", value=f"{r.rate_hz:.2f}"),
                        KeyValue(key="max_gap_s", value=f"{r.max_gap_s:.4f}"),
                        KeyValue(key="count", value=str(r.count))]))
        self.diag_pub.publish(msg)


def main(args=None):
    return run_node(GraphMonitor, args)


if __name__ == "__main__":
    raise SystemExit(main())
