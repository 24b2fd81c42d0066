"""sim_node over real rclpy: topics, commands, rejections in diagnostics, reset, clean SIGINT."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from psi0_msgs.msg import TaskState  # noqa: E402
from psi0_msgs.srv import ResetSim  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from unitree_hg.msg import HandState, LowState  # noqa: E402

from psi0_common import g1, topics  # noqa: E402
from psi0_common.rosutil.unitree_msgs import data_to_lowcmd  # noqa: E402
from psi0_common.unitree_codec import LowCmdData, MotorCommands, with_crc  # noqa: E402
from psi0_sim.sim_node import COMMAND_QOS, SimNode  # noqa: E402
from psi0_common.testing import wait_for  # noqa: E402

pytestmark = pytest.mark.ros
ELBOW = g1.BODY_NAMES.index("left_elbow")


def lowcmd(elbow: float):
    m = MotorCommands()
    kp, kd = g1.body_gains()
    m.mode[:29] = 1
    m.q[:29] = g1.DEFAULT_BODY_POSE
    m.q[ELBOW] = elbow
    m.kp[:29], m.kd[:29] = kp, kd
    return with_crc(LowCmdData(mode_machine=5, motors=m))


def test_sim_node_topics_commands_and_reset(rclpy_context):
    params = [Parameter("camera_width", value=64), Parameter("camera_height", value=48),
              Parameter("diagnostics_period", value=0.2), Parameter("base_mode", value="fixed")]
    node = SimNode(context=rclpy_context, parameter_overrides=params)
    probe = rclpy.create_node("probe", context=rclpy_context)
    ex = MultiThreadedExecutor(num_threads=2, context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    got = {"low": [], "hand": [], "img": [], "info": [], "task": [], "diag": []}
    probe.create_subscription(LowState, topics.LOWSTATE, got["low"].append, qos_profile_sensor_data)
    probe.create_subscription(HandState, topics.DEX3_STATE["left"], got["hand"].append, qos_profile_sensor_data)
    probe.create_subscription(Image, topics.SIM_IMAGE, got["img"].append, qos_profile_sensor_data)
    probe.create_subscription(CameraInfo, topics.SIM_CAMERA_INFO, got["info"].append, qos_profile_sensor_data)
    probe.create_subscription(TaskState, topics.SIM_TASK_STATE, got["task"].append, 10)
    probe.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, got["diag"].append, 10)
    pub = probe.create_publisher(type(data_to_lowcmd(lowcmd(0.0))), topics.LOWCMD, COMMAND_QOS)
    try:
        assert wait_for(lambda: len(got["low"]) > 100 and got["img"] and got["task"] and got["hand"] and got["info"])
        ls = got["low"][-1]
        assert ls.mode_machine == 5 and ls.tick > 0
        assert abs(ls.imu_state.quaternion[0] - 1.0) < 1e-2 and abs(ls.imu_state.accelerometer[2] - 9.81) < 0.3
        ticks = [m.tick for m in got["low"][-50:]]
        steps = np.diff(ticks)                          # one message per 2 ms physics step (best effort: a
        assert np.all(steps > 0) and np.all(steps % 2 == 0)   # busy in-process subscriber may miss some)
        img = got["img"][-1]
        assert (img.width, img.height, img.encoding, len(img.data)) == (64, 48, "rgb8", 64 * 48 * 3)
        assert img.header.stamp.sec > 0 and got["info"][-1].k[0] > 0
        assert got["task"][-1].task == "cube_in_box" and "hand_touching_object" in got["task"][-1].predicate_names
        assert len(got["hand"][-1].motor_state) == 7

        # A valid command moves the elbow; a bad-CRC one is rejected and counted.
        bad = data_to_lowcmd(lowcmd(-0.8))
        bad.crc ^= 1
        good = data_to_lowcmd(lowcmd(1.4))
        for _ in range(60):                           # depth-1 command queue: give each one time to land
            pub.publish(bad)
            time.sleep(0.005)
            pub.publish(good)
            time.sleep(0.005)
        assert wait_for(lambda: abs(got["low"][-1].motor_state[ELBOW].q - 1.4) < 0.05, 3.0)

        def rejected():
            for arr in got["diag"]:
                vals = {kv.key: kv.value for kv in arr.status[0].values}
                if int(vals.get("lowcmd_rejected_crc", 0)) > 0 and int(vals.get("lowcmd_accepted", 0)) > 0:
                    return True
            return False
        assert wait_for(rejected, 3.0)

        cli = probe.create_client(ResetSim, topics.SIM_RESET)
        assert cli.wait_for_service(timeout_sec=5.0)
        fut = cli.call_async(ResetSim.Request(seed=42, task=""))
        assert wait_for(fut.done, 5.0)
        assert fut.result().success and fut.result().seed == 42
        assert wait_for(lambda: got["task"][-1].seed == 42, 3.0)
        fut = cli.call_async(ResetSim.Request(seed=1, task="no_such_task"))
        assert wait_for(fut.done, 5.0)
        assert not fut.result().success and "unknown task" in fut.result().message
    finally:
        node.close()
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_sim_node_exits_cleanly_on_sigint():
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "psi0_sim.sim_node", "--ros-args", "-p", "camera_enabled:=false"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        t0 = time.monotonic()
        line = ""
        while "simulated G1 running" not in line and time.monotonic() - t0 < 30:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "simulated G1 running" in line
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        t1 = time.monotonic()
        assert proc.wait(10) == 0
        assert time.monotonic() - t1 < 3.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_parameter_exits_with_code_2():
    proc = subprocess.run([sys.executable, "-m", "psi0_sim.sim_node", "--ros-args", "-p", "base_mode:=flying"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "base_mode" in proc.stderr
