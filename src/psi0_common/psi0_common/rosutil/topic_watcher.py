"""A thread of its own that runs a callback the moment a message arrives on one topic.

For the few messages that must not queue behind an executor (the bridge's e-stop): rclpy's
executors spend ~0.5 ms of Python per wake-up and hand callbacks across threads, all while sharing
the GIL with the real-time command thread. This thread blocks in rcl's wait (GIL released) on one
subscription and a stop guard, and can run at SCHED_FIFO. The wait set is rclpy's own
(`rclpy.wait_for_message` uses the same calls).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from psi0_common.rosutil.unspun import take_queued

_WAKE_CHECK_NS = 200_000_000  # re-check the stop flag at least this often


class TopicWatcher:
    """Subscribe `topic` on `node` (a node no executor spins) and call `callback(msg, info)` on arrival
    (`info`: the middleware's message info, e.g. `received_timestamp` in ns of the system clock).

    `rt_priority` > 0 asks for SCHED_FIFO on the thread; `on_warning(text)` is told if that fails.
    """

    def __init__(self, node: Node, msg_type, topic: str, qos, callback: Callable, rt_priority: int = 0,
                 on_warning: Callable[[str], None] | None = None, name: str = "topic_watcher"):
        self._node, self._callback = node, callback
        self._rt_priority, self._warn = rt_priority, on_warning or (lambda _: None)
        self._sub = node.create_subscription(msg_type, topic, lambda _: None, qos)
        self._wake = node.create_guard_condition(lambda: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._rt_priority > 0:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self._rt_priority))
            except (OSError, AttributeError) as exc:
                self._warn(f"cannot use SCHED_FIFO {self._rt_priority} for {self._thread.name} ({exc})")
        wait_set = _rclpy.WaitSet(1, 1, 0, 0, 0, 0, self._node.context.handle)
        while not self._stop.is_set():
            wait_set.clear_entities()
            wait_set.add_subscription(self._sub.handle)
            wait_set.add_guard_condition(self._wake.handle)
            wait_set.wait(_WAKE_CHECK_NS)
            if self._stop.is_set():
                return
            if self._sub.handle.pointer not in wait_set.get_ready_entities("subscription"):
                continue
            for msg, info in take_queued(self._sub):
                self._callback(msg, info)

    def close(self) -> None:
        self._stop.set()
        self._wake.trigger()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
