"""One `main()` for every psi0 node: init, spin, clean shutdown, exit codes.

Exit codes: 0 clean shutdown (Ctrl-C / SIGINT / SIGTERM included), 2 bad
configuration (the message says which parameter), 1 anything else.

A job node (one that ends by itself: the episode runner, a scripted operator)
has a `finished` threading.Event and may set `exit_code`; it sets `finished`
from any thread and run_node stops spinning, then destroys the node and shuts
down from this thread. (Shutting the context down from the node's own thread
raced with the executor building its next wait set: rcl "context is not valid",
or rclpy InvalidHandle on an entity whose destruction was requested.)
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from psi0_common.config import ConfigError
from psi0_common.realtime import freeze_heap


def run_node(make_node: Callable[[], Node], args=None, threads: int = 2) -> int:
    rclpy.init(args=args)
    # SIGTERM from a launcher means "stop", like SIGINT.
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    node = None
    code = 0
    try:
        node = make_node()
        freeze_heap()  # start-up objects out of the GC's full scans (a 100 ms GIL stall otherwise)
        executor = MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        finished = getattr(node, "finished", None)
        if isinstance(finished, threading.Event):
            while rclpy.ok() and not finished.is_set():
                executor.spin_once(timeout_sec=0.05)
        else:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        # A node that shut the context down itself (e.g. from a callback) while the executor built its
        # next wait set: rcl says the context is invalid. That is the requested shutdown, not a failure;
        # any other rcl error is re-raised. (Job nodes use `finished` instead, which avoids the race.)
        if rclpy.ok():
            raise
    except ConfigError as exc:
        print(f"[FATAL] configuration error: {exc}", file=sys.stderr, flush=True)
        code = 2
    finally:
        if node is not None:
            code = code or int(getattr(node, "exit_code", 0))
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
