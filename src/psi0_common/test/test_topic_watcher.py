"""TopicWatcher over real rclpy: the callback runs on arrival without any executor; close() stops it."""
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from psi0_common.rosutil.topic_watcher import TopicWatcher  # noqa: E402

QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)


def test_watcher_calls_back_in_order_and_stops(rclpy_context):
    ctx = rclpy_context
    node = rclpy.create_node("watched", context=ctx)      # never spun by an executor
    talker = rclpy.create_node("talker", context=ctx)
    pub = talker.create_publisher(Bool, "/watched_topic", QOS)
    got, threads = [], set()
    done = threading.Event()

    def on_msg(msg, info):
        assert info["received_timestamp"] > 0
        got.append(msg.data)
        threads.add(threading.current_thread().name)
        if len(got) == 3:
            done.set()

    watcher = TopicWatcher(node, Bool, "/watched_topic", QOS, on_msg, name="watch_test")
    end = time.monotonic() + 5.0
    while pub.get_subscription_count() < 1 and time.monotonic() < end:
        time.sleep(0.01)
    for value in (True, False, True):
        pub.publish(Bool(data=value))
    assert done.wait(5.0), got
    assert got == [True, False, True] and threads == {"watch_test"}
    t0 = time.monotonic()
    watcher.close()
    assert time.monotonic() - t0 < 1.0  # returns promptly (guard condition, else the 0.2 s re-check)
    assert not watcher._thread.is_alive()
    pub.publish(Bool(data=False))
    time.sleep(0.2)
    assert got == [True, False, True]  # nothing after close
