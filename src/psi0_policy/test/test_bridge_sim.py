"""The bridge (its own process, like a deployment) driving psi0_sim's simulated G1 (in this process).

Kinematic base: the robot stands, follows torso and height commands, walks
the base; safety rules trigger (action timeout -> HOLD -> DAMPING, e-stop,
reset ramps from the measured pose) and the simulated joints never jump.
"""
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("mujoco")
sim_node = pytest.importorskip("psi0_sim.sim_node")
pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.realtime]

import rclpy  # noqa: E402
from bridge_ros_fakes import RELIABLE_1, Probe, call, wait_for  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from unitree_hg.msg import LowCmd  # noqa: E402

from psi0_bringup.runner import find_executable  # noqa: E402
from psi0_common import action_layout as al  # noqa: E402
from psi0_common import g1, topics  # noqa: E402
from psi0_common.rosutil.unitree_msgs import lowcmd_to_data  # noqa: E402
from psi0_common.unitree_codec import crc_ok  # noqa: E402

from psi0_policy.bridge.config import BridgeConfig  # noqa: E402

CFG = BridgeConfig(backend="kinematic")
# The sim's physics thread shares this test process (and a loaded 2-core machine) with the probe: LowState
# gaps of 100-500 ms happen here (load average 8 seen) that a robot does not have. The 100 ms rule itself is tested in
# test_bridge_core.py and test_bridge_node.py; here the sim profile's value is used.
LOWSTATE_TIMEOUT = 1.0
CAP_STEP = CFG.body_velocity_caps() * CFG.period


class SimHarness:
    def __init__(self, ctx):
        # command_timeout 1 s (the sim's default 0.25 s): a starved test process can delay LowCmds that
        # long here, the sim would go limp and the legs snap back when commands resume.
        self.node = sim_node.SimNode(context=ctx, parameter_overrides=[
            Parameter("camera_enabled", value=False), Parameter("base_mode", value="kinematic"),
            Parameter("command_timeout", value=1.0)])
        self.sim = self.node.sim
        self.offset = self.sim.stand_height - g1.NOMINAL_PELVIS_HEIGHT
        self.probe = Probe(ctx)
        self.lock = threading.Lock()
        self.cmds = []       # (t, LowCmdData)
        self.probe.create_subscription(LowCmd, topics.LOWCMD, self._on_cmd, RELIABLE_1)
        self.executor = MultiThreadedExecutor(num_threads=2, context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self.spin = threading.Thread(target=self.executor.spin, daemon=True)
        self.spin.start()
        exe = find_executable("psi0_policy", "amo_bridge_node")
        self.bridge = subprocess.Popen(
            [str(exe), "--ros-args", "-p", "backend:=kinematic", "-p", f"sim_height_offset:={self.offset:.4f}",
             "-p", "diagnostics_period:=0.2", "-p", f"lowstate_timeout:={LOWSTATE_TIMEOUT}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.log = []
        threading.Thread(target=self._read_log, daemon=True).start()
        self.action = al.standing_action()
        self.sending = True
        self._stop = threading.Event()
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.sender.start()

    def _read_log(self):
        for line in self.bridge.stdout:
            self.log.append(line.rstrip())

    def _send(self):
        while not self._stop.is_set():
            if self.sending:
                self.probe.send(self.action, 1)
            time.sleep(1 / 30)

    def _on_cmd(self, msg):
        with self.lock:
            self.cmds.append((time.monotonic(), lowcmd_to_data(msg)))

    def cmds_since(self, t):
        with self.lock:
            return [c for tt, c in self.cmds if tt >= t]

    def measured(self):
        with self.sim.lock:
            d = self.sim.data
            return (d.qpos[self.sim.body_qadr].copy(), d.qvel[self.sim.body_vadr].copy(), self.sim.base_pose()[0],
                    min(d.site("left_sole").xpos[2], d.site("right_sole").xpos[2]))

    def watch(self, seconds):
        """Sample the sim at ~100 Hz: the largest joint speed and the sole heights seen."""
        speed, soles = 0.0, []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            _, dq, _, sole = self.measured()
            if np.abs(dq).max() > speed:
                speed = float(np.abs(dq).max())
                self.fastest = g1.BODY_NAMES[int(np.abs(dq).argmax())]
            soles.append(sole)
            time.sleep(0.01)
        return speed, np.array(soles)

    def check_no_jump(self, since=0.0):
        """Every position command moved each joint by at most its cap per tick; every CRC is valid.

        Pairs across a silence (BLOCKED sends nothing; the next RAMP starts at the measured pose) or
        across damping (kp 0) are not compared. The receiver's depth-1 queue may drop a command, so a
        pair dt apart may differ by the caps of the ticks in between.
        """
        with self.lock:
            cmds = [(t, c) for t, c in self.cmds if t >= since]
        assert cmds and all(crc_ok(c) for _, c in cmds)
        for (ta, a), (tb, b) in zip(cmds, cmds[1:]):
            if not (a.motors.kp.any() and b.motors.kp.any()) or tb - ta > 0.25:
                continue
            ticks = max(2, int(np.ceil((tb - ta) / CFG.period)) + 1)
            step = np.abs(b.motors.q[:29].astype(float) - a.motors.q[:29])
            assert np.all(step <= ticks * CAP_STEP + 1e-5), (step.max(), tb - ta)

    def close(self):
        self._stop.set()
        if self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGINT)
            try:
                self.bridge.wait(5)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait()
        self.node.close()
        self.executor.shutdown(timeout_sec=2)
        self.spin.join(2)
        self.node.destroy_node()
        self.probe.destroy_node()


@pytest.fixture(scope="module")
def harness():
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    h = SimHarness(ctx)
    try:
        yield h
    finally:
        h.close()
        rclpy.try_shutdown(context=ctx)
    assert h.bridge.returncode == 0, "\n".join(h.log[-20:])


def test_sim_robot_stands_and_follows_torso_height_and_base_commands(harness):
    h = harness
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 20.0), "\n".join(h.log[-20:])
    speed, soles = h.watch(0.5)
    q, _, base, sole = h.measured()
    np.testing.assert_allclose(q[g1.LEGS], g1.DEFAULT_BODY_POSE[g1.LEGS], atol=0.05)
    assert abs(sole) < 0.02 and abs(base[2] - h.sim.stand_height) < 0.01  # standing on the floor
    # Squat to 0.62 m with the torso rolled, pitched and turned.
    h.action = al.standing_action()
    h.action[al.BASE_HEIGHT] = 0.62
    h.action[al.TORSO_RPY] = (0.15, 0.3, 0.4)
    speed, soles = h.watch(3.0)
    q, _, base, _ = h.measured()
    assert q[g1.WAIST_YAW] == pytest.approx(0.4, abs=0.05)
    assert q[g1.WAIST_ROLL] == pytest.approx(0.15, abs=0.05)
    assert q[g1.WAIST_PITCH] == pytest.approx(0.3, abs=0.05)
    assert q[3] > 0.8 and q[9] > 0.8                                   # knees bent
    assert base[2] == pytest.approx(0.62 + h.offset, abs=0.02)         # the pelvis went down
    assert np.all(np.abs(soles[-50:]) < 0.03)                           # ... with the feet on the floor
    assert speed < CFG.max_joint_velocity, h.fastest
    assert h.probe.state() == "ACTIVE"
    # Walk the base forward.
    x0 = h.measured()[2][0]
    h.action[al.BASE_VX] = 0.3
    h.watch(1.5)
    h.action[al.BASE_VX] = 0.0
    assert h.measured()[2][0] - x0 > 0.15  # 0.45 m at real time; the sim may run slower on a busy machine
    h.check_no_jump()


def test_sim_safety_rules_trigger_and_the_robot_never_jumps(harness):
    h = harness
    h.action = al.standing_action()
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 20.0), "\n".join(h.log[-20:])
    # No actions: HOLD after 200 ms, DAMPING after 1 s (latched).
    t0 = time.monotonic()
    h.sending = False
    assert wait_for(lambda: h.probe.state() == "HOLD", 1.0)
    assert wait_for(lambda: h.probe.state() == "DAMPING", 2.0)
    assert 0.9 < h.probe.states[-1][0] - t0 < 1.6
    time.sleep(0.5)
    damp = h.cmds_since(time.monotonic() - 0.3)
    assert damp and all(not c.motors.kp.any() and c.motors.kd[0] == pytest.approx(8.0) for c in damp)
    # Reset: ramps from where the sagging robot is, no jump.
    h.sending = True
    t1 = time.monotonic()
    r = call(h.probe.reset_client)
    assert r.success, r.message
    q_now = h.measured()[0]
    assert wait_for(lambda: any(c.motors.kp.any() for c in h.cmds_since(t1)), 2.0)
    first = next(c for c in h.cmds_since(t1) if c.motors.kp.any())
    assert np.abs(first.motors.q[:29] - q_now).max() < 0.1  # starts at the measured pose
    speed, _ = h.watch(2.5)
    assert speed < CFG.max_joint_velocity, h.fastest
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 3.0), "\n".join(h.log[-10:])
    # E-stop topic: damping at once, latched while actions keep coming.
    t2 = time.monotonic()
    h.probe.pub_estop.publish(Bool(data=True))
    assert wait_for(lambda: any(not c.motors.kp.any() for c in h.cmds_since(t2)), 1.0)
    time.sleep(0.5)
    assert all(not c.motors.kp.any() for c in h.cmds_since(time.monotonic() - 0.3))
    assert h.probe.state() == "ESTOP"
    assert call(h.probe.reset_client).success
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 4.0)
    h.check_no_jump()
    with h.sim.lock:
        counters = h.sim.counters()
    assert counters["lowcmd_accepted"] > 100
    assert not any(v for k, v in counters.items() if k.startswith("lowcmd_rejected")), counters


def test_sim_bad_actions_sources_other_writer_lowstate_loss_and_a_fall(harness):
    h = harness
    h.action = al.standing_action()
    if h.probe.state() in ("DAMPING", "ESTOP"):
        assert call(h.probe.reset_client).success
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 6.0), "\n".join(h.log[-10:])
    t_start = time.monotonic()
    # NaN actions: rejected and counted; the last safe command is held (HOLD once they are stale).
    h.action = np.full(36, np.nan)
    assert wait_for(lambda: h.probe.state() == "HOLD", 2.0)
    assert wait_for(lambda: int(h.probe.diagnostics[-1]["rejected_actions"]) > 3, 2.0)
    h.action = al.standing_action()
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 2.0)
    # Teleop publishing different arms at the same time: only the policy drives.
    teleop = al.standing_action()
    teleop[al.LEFT_ARM] = (-0.5, 0.8, 0.0, 0.2, 0.0, 0.0, 0.0)
    stop = threading.Event()

    def teleop_sender():
        while not stop.is_set():
            h.probe.send(teleop, 2)
            time.sleep(1 / 30)

    th = threading.Thread(target=teleop_sender, daemon=True)
    th.start()
    time.sleep(1.0)
    sent = h.cmds_since(time.monotonic() - 0.2)[-1].motors.q[:29]
    np.testing.assert_allclose(sent[g1.LEFT_ARM], g1.DEFAULT_BODY_POSE[g1.LEFT_ARM], atol=1e-5)  # the policy's
    q = h.measured()[0]  # the sim's arm sags a little under gravity with the real gains; far from teleop's
    assert np.abs(q[g1.LEFT_ARM] - teleop[al.LEFT_ARM]).max() > 0.5
    assert np.abs(q[g1.LEFT_ARM] - g1.DEFAULT_BODY_POSE[g1.LEFT_ARM]).max() < 0.25
    assert "teleop" in h.probe.diagnostics[-1]["ignored_actions"]
    stop.set()
    th.join(1)
    # Another /lowcmd writer: the bridge stops sending and says who; when it is gone it ramps again.
    rogue = rclpy.create_node("rogue_writer", context=h.probe.context)
    rogue.create_publisher(LowCmd, topics.LOWCMD, 1)
    assert wait_for(lambda: h.probe.state() == "BLOCKED", 5.0)
    assert wait_for(lambda: "rogue_writer" in h.probe.diagnostics[-1]["other_lowcmd_writers"], 2.0)
    time.sleep(0.3)
    t_blocked = time.monotonic()
    time.sleep(0.5)
    assert h.cmds_since(t_blocked) == []
    rogue.destroy_node()
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 8.0)
    # LowState lost (the sim keeps running but stops publishing): damping.
    publish = h.node.runtime.on_lowstate
    h.node.runtime.on_lowstate = lambda s: None
    try:
        assert wait_for(lambda: h.probe.state() == "DAMPING", LOWSTATE_TIMEOUT + 2.0)
        assert "no LowState" in h.probe.diagnostics[-1]["reason"] or "LowState" in "\n".join(h.log[-5:])
    finally:
        h.node.runtime.on_lowstate = publish
    assert wait_for(lambda: call(h.probe.reset_client).success, 3.0, step=0.2)
    assert wait_for(lambda: h.probe.state() == "ACTIVE", 5.0)
    h.check_no_jump(since=t_start)
    # A fall: free the base (floating: nothing balances it) and push it sideways: tilt or joint speed -> damping.
    with h.sim.lock:
        h.sim.set_base_mode("floating")
        h.sim.data.qvel[3] = 3.0  # roll rate of the free base (rad/s), below the 6 rad/s gyro rule
    try:
        assert wait_for(lambda: h.probe.state() == "DAMPING", 5.0)
        reason = h.probe.diagnostics[-1]["reason"] if h.probe.diagnostics else ""
        assert wait_for(lambda: "tilt" in h.probe.diagnostics[-1]["reason"]
                        or "rad/s" in h.probe.diagnostics[-1]["reason"], 2.0), reason
    finally:
        with h.sim.lock:
            h.sim.set_base_mode("kinematic")
