"""Workspace-wide pytest set-up.

Every pytest run gets its own ROS domain so tests never hear a running
`psi0 launch sim` (domain 0) or another test run on the same machine.
"""
import os
import random

import pytest

from psi0_common.realtime import shorten_gil_switch_interval

# Node tests run whole graphs (sim, bridge, teleop, fakes) in one process, where on a real robot each
# node has its own. With Python's default 5 ms GIL switch interval their threads starve each other
# (gaps up to 0.9 s measured); the sim, the bridge and the policy's control loop shorten it themselves; the harness does it for all.
shorten_gil_switch_interval()

if "PSI0_TEST_KEEP_DOMAIN" not in os.environ:
    os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid()).randint(101, 200))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("MUJOCO_GL", "osmesa")


@pytest.fixture
def rclpy_context():
    """An initialized rclpy context for one test, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        rclpy.try_shutdown(context=ctx)


def pytest_collection_modifyitems(config, items):
    """Real-clock tests depend on OS scheduling: on a loaded 2-core machine a stall can break a timing
    assertion that holds otherwise. They are rerun (same assertions) rather than loosened."""
    for item in items:
        if item.get_closest_marker("realtime") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2))
