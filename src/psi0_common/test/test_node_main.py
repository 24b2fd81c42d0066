"""run_node: a job node's `finished` event ends the spin and the process cleanly, from any thread; an rcl error
from a context the node itself shut down is a clean exit; any other is not.

The race (episode_runner shutting the context down from its worker thread while the executor builds its
next wait set) is rare, so the executor's failure is injected: exactly the error rcl raises there.
"""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("rclpy")

SCRIPT = textwrap.dedent("""
    import sys
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
    from rclpy.node import Node
    from psi0_common.rosutil.node_main import run_node

    shut_down_first = sys.argv[1] == "shutdown"

    def failing_spin(self, *args, **kwargs):
        if shut_down_first:
            rclpy.try_shutdown()  # what the node's worker thread did
        raise _rclpy.RCLError("failed to initialize wait set: the given context is not valid")

    MultiThreadedExecutor.spin = failing_spin
    code = run_node(lambda: Node("finisher"), args=[])
    print("exit", code)
""")


def run(case: str):
    return subprocess.run([sys.executable, "-c", SCRIPT, case], capture_output=True, text=True, timeout=60)


def test_rcl_error_after_the_nodes_own_shutdown_is_a_clean_exit():
    r = run("shutdown")
    assert r.returncode == 0 and "exit 0" in r.stdout, r.stdout + r.stderr[-3000:]


def test_rcl_error_with_a_live_context_still_fails():
    r = run("live")
    assert r.returncode != 0 and "RCLError" in r.stderr, r.stdout + r.stderr[-3000:]


FINISHER = textwrap.dedent("""
    import threading, time
    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import Bool
    from psi0_common.rosutil.node_main import run_node

    class Job(Node):
        # entities of every kind the executor puts in its wait set (with QoS event handlers), and a worker
        # thread that ends the job: what the episode runner does
        def __init__(self, delay, code):
            super().__init__("job")
            self.finished = threading.Event()
            self.exit_code = code
            self.pub = self.create_publisher(Bool, "/job_test", 10)
            self.create_subscription(Bool, "/job_test", lambda _m: None, 10)
            self.create_timer(0.001, lambda: self.pub.publish(Bool(data=True)))
            threading.Thread(target=lambda: (time.sleep(delay), self.finished.set()), daemon=True).start()

    codes = [run_node(lambda i=i: Job(0.002 * (i % 7), i % 2), args=[]) for i in range(30)]
    print("codes", codes, "ok", rclpy.ok())
""")


def test_a_job_node_that_finishes_from_its_own_thread_exits_with_its_code():
    r = subprocess.run([sys.executable, "-c", FINISHER], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert f"codes {[i % 2 for i in range(30)]} ok False" in r.stdout, r.stdout + r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
