"""Every psi0_msgs and unitree_hg interface crosses a process boundary over real rclpy/DDS intact."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from msgfill import interface_classes, make, same, topic_for  # noqa: E402

SEED = 1234


def test_interface_list_is_complete():
    names = {c.__name__ for c in interface_classes()}
    assert {"LowCmd", "LowState", "MotorCmd", "MotorState", "IMUState", "HandCmd", "HandState",
            "PressSensorState"} <= names
    assert {"WholeBodyAction", "ActionChunk", "TrackerFrames", "GloveState", "GloveHand", "PolicyStatus",
            "SimBaseCommand", "TaskState", "SetTask_Request", "StartEpisode_Response", "StopEpisode_Request",
            "ResetSim_Response"} <= names


def test_filled_messages_differ_by_seed():
    from unitree_hg.msg import LowCmd
    assert not same(make(LowCmd, 1), make(LowCmd, 2))
    assert same(make(LowCmd, 1), make(LowCmd, 1))


def test_every_interface_round_trips_between_processes(rclpy_context):
    classes = interface_classes()
    expected = {topic_for(c): make(c, SEED + i) for i, c in enumerate(classes)}
    received = {}
    node = rclpy.create_node("roundtrip_listener", context=rclpy_context)
    qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)
    for cls in classes:
        topic = topic_for(cls)
        node.create_subscription(cls, topic, lambda m, t=topic: received.setdefault(t, m), qos)
    child = subprocess.Popen([sys.executable, str(Path(__file__).parent / "roundtrip_publisher.py"), str(SEED), "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        executor = rclpy.executors.SingleThreadedExecutor(context=rclpy_context)
        executor.add_node(node)
        deadline = time.monotonic() + 45
        while len(received) < len(expected) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            assert child.poll() is None, child.stdout.read()
    finally:
        child.terminate()
        child.wait(10)
        node.destroy_node()
    missing = sorted(set(expected) - set(received))
    assert not missing, f"never received: {missing}"
    wrong = [t for t in expected if not same(expected[t], received[t])]
    assert not wrong, f"contents changed on the wire: {wrong}"
