"""Motor drivers, command validation, timeouts, base modes, LowState contents."""
import numpy as np
import pytest

from psi0_common import g1
from psi0_common.unitree_codec import LowCmdData, MotorCommands, with_crc
from psi0_sim.config import SimConfig
from psi0_sim.robot import G1Sim

ELBOW = g1.BODY_NAMES.index("left_elbow")


@pytest.fixture(scope="module")
def shared_sim():
    return G1Sim(SimConfig(base_mode="fixed"))


@pytest.fixture
def sim(shared_sim):
    shared_sim.set_base_mode("fixed")
    shared_sim.reset(0)
    return shared_sim


def hold_cmd(q=None, kp=None, kd=None) -> LowCmdData:
    m = MotorCommands()
    kps, kds = g1.body_gains()
    m.mode[:g1.NUM_BODY] = 1
    m.q[:g1.NUM_BODY] = g1.DEFAULT_BODY_POSE if q is None else q
    m.kp[:g1.NUM_BODY] = kps if kp is None else kp
    m.kd[:g1.NUM_BODY] = kds if kd is None else kd
    return with_crc(LowCmdData(mode_machine=5, motors=m))


def test_pd_command_moves_a_joint_to_its_target(sim):
    q = np.array(g1.DEFAULT_BODY_POSE)
    q[ELBOW] = 1.4                            # forearm hanging down, clear of the table
    for _ in range(50):                       # 50 commands at 100 Hz = 0.5 s
        assert sim.apply_lowcmd(hold_cmd(q))
        sim.step(5)
    assert abs(sim.lowstate().q[ELBOW] - 1.4) < 0.03
    assert abs(sim.lowstate().q[ELBOW] - g1.DEFAULT_BODY_POSE[ELBOW]) > 0.45


def test_torque_is_clamped_to_the_motor_limit(sim):
    q = np.array(g1.DEFAULT_BODY_POSE)
    q[ELBOW] = -1.0
    sim.apply_lowcmd(hold_cmd(q, kp=np.full(g1.NUM_BODY, 500.0)))
    sim.step(2)
    assert abs(sim.lowstate().tau_est[ELBOW]) == pytest.approx(g1.BODY_JOINTS[ELBOW].torque, rel=1e-6)


@pytest.mark.parametrize("corrupt", ["crc", "nan", "inf"])
def test_bad_commands_are_rejected_without_moving_anything(sim, corrupt):
    good = np.array(g1.DEFAULT_BODY_POSE)
    for _ in range(50):
        sim.apply_lowcmd(hold_cmd(good))
        sim.step(5)
    before = sim.lowstate().q
    q = good.copy()
    q[ELBOW] = -0.8
    cmd = hold_cmd(q)
    if corrupt == "crc":
        cmd.crc ^= 1
    else:
        cmd.motors.q[ELBOW] = np.nan if corrupt == "nan" else np.inf
        with_crc(cmd)                         # a correct CRC does not make NaN acceptable
    for _ in range(20):
        assert not sim.apply_lowcmd(cmd)
        sim.apply_lowcmd(hold_cmd(good))      # the good stream keeps going
        sim.step(5)
    after = sim.lowstate().q
    assert np.abs(after - before).max() < 0.01
    key = {"crc": "crc", "nan": "nonfinite", "inf": "nonfinite"}[corrupt]
    assert sim.counters()[f"lowcmd_rejected_{key}"] >= 20


def test_rejected_first_command_keeps_the_default_hold(sim):
    cmd = hold_cmd(np.zeros(g1.NUM_BODY))
    cmd.crc ^= 0xFF
    assert not sim.apply_lowcmd(cmd)
    sim.step(250)
    assert np.abs(sim.lowstate().q - g1.DEFAULT_BODY_POSE).max() < 0.05


def test_command_timeout_goes_limp():
    sim = G1Sim(SimConfig(base_mode="fixed", command_timeout=0.1, limp_kd=0.0))
    q = np.array(g1.DEFAULT_BODY_POSE)
    q[ELBOW] = 1.8                            # forearm up: gravity pulls it down once limp
    for _ in range(100):
        sim.apply_lowcmd(hold_cmd(q))
        sim.step(5)
    assert abs(sim.lowstate().q[ELBOW] - 1.8) < 0.1
    assert abs(sim.lowstate().tau_est).max() > 0.1
    sim.step(100)                             # 0.2 s without commands > 0.1 s timeout
    assert sim.body.timed_out
    assert np.abs(sim.lowstate().tau_est).max() == 0.0
    sim.step(250)
    assert sim.lowstate().q[ELBOW] < 1.6


def test_disabled_motor_produces_no_torque(sim):
    cmd = hold_cmd()
    cmd.motors.mode[ELBOW] = 0
    sim.apply_lowcmd(with_crc(cmd))
    sim.step(2)
    assert sim.lowstate().tau_est[ELBOW] == 0.0


def test_hand_command_moves_a_finger_and_bad_ones_are_rejected(sim):
    target = np.zeros(7)
    target[3] = -1.0                          # left middle_0 closes towards negative angles
    kp, kd = np.full(7, 1.5), np.full(7, 0.2)
    mode = np.full(7, 0x10)                   # status 1 = enabled
    for _ in range(100):
        assert sim.apply_hand_cmd("left", target, np.zeros(7), np.zeros(7), kp, kd, mode)
        sim.step(5)
    assert abs(sim.hand_state("left").q[3] + 1.0) < 0.1
    bad = target.copy()
    bad[0] = np.nan
    assert not sim.apply_hand_cmd("left", bad, np.zeros(7), np.zeros(7), kp, kd, mode)
    assert not sim.apply_hand_cmd("left", target[:5], np.zeros(5), np.zeros(5), kp[:5], kd[:5], mode[:5])
    c = sim.counters()
    assert c["left_hand_rejected_nonfinite"] == 1 and c["left_hand_rejected_size"] == 1


def test_lowstate_contents(sim):
    sim.step(10)
    s = sim.lowstate()
    assert s.tick == 20 and s.mode_machine == 5
    np.testing.assert_allclose(s.quaternion, (1, 0, 0, 0), atol=1e-3)
    np.testing.assert_allclose(s.accelerometer, (0, 0, 9.81), atol=0.1)
    np.testing.assert_allclose(s.rpy, 0.0, atol=1e-3)
    assert s.q.shape == (29,) and s.tau_est.shape == (29,)


@pytest.mark.parametrize("vx, vy, yaw_rate", [(0.3, 0.0, 0.0), (0.0, -0.2, 0.0), (0.2, 0.1, 0.4)])
def test_kinematic_base_follows_velocity_within_5_percent(vx, vy, yaw_rate):
    sim = G1Sim(SimConfig(base_mode="kinematic"))
    p0, yaw0 = sim.base_pose()
    duration = 2.0
    for _ in range(int(duration * 50)):       # 50 Hz base commands
        sim.apply_base_command(vx, vy, yaw_rate, 0.0)
        sim.step(10)
    p1, yaw1 = sim.base_pose()
    if yaw_rate == 0.0:
        expected = np.array([vx, vy]) * duration
    else:                                     # robot-frame velocity on a turning base: an arc
        t = np.linspace(0, duration, 20001)
        yaw = yaw_rate * t
        expected = np.array([np.trapezoid(vx * np.cos(yaw) - vy * np.sin(yaw), t),
                             np.trapezoid(vx * np.sin(yaw) + vy * np.cos(yaw), t)])
        assert abs((yaw1 - yaw0) - yaw_rate * duration) < 0.05 * abs(yaw_rate * duration)
    assert np.linalg.norm(p1[:2] - p0[:2] - expected) < 0.05 * np.linalg.norm(expected)
    assert abs(p1[2] - p0[2]) < 0.005


def test_kinematic_height_and_base_command_timeout():
    sim = G1Sim(SimConfig(base_mode="kinematic", base_command_timeout=0.2))
    sim.apply_base_command(0.5, 0.0, 0.0, 0.70)
    sim.step(500)                             # 1 s: moves 0.1 m during the 0.2 s timeout, then stops
    p, _ = sim.base_pose()
    assert 0.09 < p[0] < 0.12
    assert abs(p[2] - 0.70) < 0.005


def test_fixed_base_stays_and_floating_base_stands_on_the_floor():
    sim = G1Sim(SimConfig(base_mode="fixed"))
    p0, _ = sim.base_pose()
    sim.apply_base_command(0.5, 0.0, 0.0, 0.0)
    sim.step(250)
    np.testing.assert_allclose(sim.base_pose()[0], p0, atol=2e-3)
    sim.set_base_mode("floating")
    sim.step(100)                             # 0.2 s: supported by the feet, not falling through
    p, _ = sim.base_pose()
    assert p[2] > p0[2] - 0.05
    assert sim.data.ncon > 0


def test_reset_is_seeded():
    sim = G1Sim(SimConfig())
    a = (sim.reset(3), sim.task.cube_position(sim.data))
    sim.step(50)
    b = (sim.reset(3), sim.task.cube_position(sim.data))
    c = sim.reset(4), sim.task.cube_position(sim.data)
    np.testing.assert_array_equal(a[1], b[1])
    assert np.linalg.norm(a[1] - c[1]) > 1e-3
    assert sim.reset(-1) == 5
