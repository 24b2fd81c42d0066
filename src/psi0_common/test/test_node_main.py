"""run_node: an rcl error from a context the node itself shut down is a clean exit; any other is not.

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
