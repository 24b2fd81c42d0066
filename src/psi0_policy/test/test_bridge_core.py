"""The bridge's safety rules, one test each, on a fake clock and a fake robot (no ROS)."""
import numpy as np
import pytest
from bridge_fakes import FakeRobot, action_with, run

from psi0_common import action_layout as al
from psi0_common import g1
from psi0_common.config import ConfigError
from psi0_common.unitree_codec import crc_ok, dex3_mode_byte

from psi0_policy.bridge import shaping
from psi0_policy.bridge.backends import SquatLeg
from psi0_policy.bridge.config import BridgeConfig
from psi0_policy.bridge.core import Bridge, State

DT = 0.02
POLICY, TELEOP = 1, 2


def make(**kw) -> Bridge:
    kw.setdefault("backend", "kinematic")
    kw.setdefault("startup_settle", 0.0)  # start ramping on the first LowState (the settle rule has its own test)
    return Bridge(BridgeConfig(**kw))


def caps(b: Bridge) -> np.ndarray:
    return b.cfg.body_velocity_caps() * b.cfg.period


def crouched() -> np.ndarray:
    q = g1.DEFAULT_BODY_POSE.copy()
    for leg in (g1.LEFT_LEG, g1.RIGHT_LEG):
        q[leg] = (-0.8, 0.0, 0.0, 1.6, -0.8, 0.0)
    q[g1.LEFT_ARM] = 0.0
    q[g1.RIGHT_ARM] = 0.0
    return q


def active(b: Bridge, robot: FakeRobot, action=None, t0: float = 0.0) -> float:
    """Ramp up with fresh actions until ACTIVE; returns the time."""
    a = al.standing_action() if action is None else action
    _, t = run(b, robot, t0, t0 + 2.2, DT, a)
    assert b.state == State.ACTIVE
    return t


def test_start_waits_for_steady_lowstate_and_a_gap_before_driving_is_no_fault():
    b = make(startup_settle=0.2)
    robot = FakeRobot()
    out, t = run(b, robot, 0.0, 0.08, DT, al.standing_action())
    assert b.state == State.INIT and out.lowcmd is None
    # A start-up gap of 0.3 s (> lowstate_timeout): still INIT, nothing sent, no damping.
    out, t = run(b, robot, t, t + 0.3, DT, al.standing_action(), lowstate=False)
    assert b.state == State.INIT and out.lowcmd is None
    out, t = run(b, robot, t, t + 0.18, DT, al.standing_action())  # the settle time starts again
    assert b.state == State.INIT
    out, t = run(b, robot, t, t + 0.06, DT, al.standing_action())
    assert b.state == State.RAMP and out.lowcmd is not None
    np.testing.assert_allclose(out.body_q, robot.commands[-1][2])


def test_init_sends_nothing_without_lowstate():
    b = make()
    robot = FakeRobot()
    out, _ = run(b, robot, 0.0, 1.0, DT, al.standing_action(), lowstate=False)
    assert b.state == State.INIT and out.lowcmd is None and out.base is None
    assert all(c[2] is None and not c[3] for c in robot.commands)


def test_ramp_starts_at_measured_pose_lasts_2s_and_never_jumps():
    b = make()
    robot = FakeRobot(q=crouched())
    target = action_with(base_height=0.75)
    out, t = run(b, robot, 0.0, 0.02, DT, target)
    assert out.state == State.RAMP
    np.testing.assert_allclose(out.body_q, shaping.clamp_to_limits(crouched(), shaping.BODY_LIMITS), atol=1e-9)
    run(b, robot, t, 1.0, DT, target)
    assert b.state == State.RAMP
    # Half-way through the ramp the legs are still far from standing.
    assert abs(robot.commands[-1][2][3] - 1.6) > 0.3 and robot.commands[-1][2][3] > 0.5
    run(b, robot, 1.0, 3.0, DT, target)
    assert b.state == State.ACTIVE
    ramp_end = min(tt for tt, s, *_ in robot.commands if s == State.ACTIVE)
    assert ramp_end >= 2.0
    assert np.all(robot.max_step() <= caps(b) + 1e-9)
    np.testing.assert_allclose(robot.commands[-1][2][g1.LEFT_ARM], target[al.LEFT_ARM], atol=1e-6)


def test_lowcmd_has_crc_mode_machine_and_configured_gains():
    kp = list(np.linspace(10, 300, 29))
    b = make(body_kp=kp)
    robot = FakeRobot(mode_machine=7)
    t = active(b, robot)
    out = b.tick(t)
    cmd = out.lowcmd
    assert crc_ok(cmd) and cmd.mode_machine == 7
    np.testing.assert_allclose(cmd.motors.kp[:29], kp, rtol=1e-6)
    np.testing.assert_allclose(cmd.motors.kd[:29], g1.body_gains()[1], rtol=1e-6)
    assert (cmd.motors.mode[:29] == 1).all() and (cmd.motors.kp[29:] == 0).all()


def test_joint_limits_clamp_every_command():
    b = make()
    robot = FakeRobot()
    wild = action_with(left_arm=[9.0] * 7, right_arm=[-9.0] * 7)
    run(b, robot, 0.0, 6.0, DT, wild)
    lim = g1.body_limits()
    for _, _, q, _ in robot.commands:
        assert np.all(q >= lim[:, 0] - 1e-9) and np.all(q <= lim[:, 1] + 1e-9)
    np.testing.assert_allclose(robot.commands[-1][2][g1.LEFT_ARM], lim[g1.LEFT_ARM, 1])


def test_velocity_cap_bounds_the_step_per_tick():
    b = make(arm_velocity_cap=1.0)
    robot = FakeRobot()
    t = active(b, robot)
    jump = al.standing_action()
    jump[al.LEFT_ARM.start] = -1.5  # shoulder pitch: a 1.7 rad step
    run(b, robot, t, t + 0.5, DT, jump)
    steps = np.diff([c[2][15] for c in robot.commands[-25:]])
    assert np.all(np.abs(steps) <= 1.0 * DT + 1e-9)
    assert np.abs(steps).max() == pytest.approx(1.0 * DT)
    assert np.all(robot.max_step() <= caps(b) + 1e-9)


@pytest.mark.parametrize("bad", [np.full(36, np.nan), np.r_[al.standing_action()[:35], np.inf], np.zeros(35),
                                 np.zeros(37)])
def test_bad_action_rejected_and_last_safe_command_held(bad):
    b = make()
    robot = FakeRobot()
    good = action_with(left_arm=[0.5, 0.3, 0.0, 0.8, 0.0, 0.0, 0.0])
    t = active(b, robot, good)
    run(b, robot, t, t + 0.5, DT, good)
    held = robot.commands[-1][2].copy()
    assert b.on_action(bad, POLICY, t + 0.5) is False
    assert b.rejected == 1 and b.last_rejection
    out = b.tick(t + 0.52)
    np.testing.assert_allclose(out.body_q, held, atol=1e-9)
    assert b.status().rejected == 1


def test_action_timeout_hold_then_damping_latched_until_reset():
    b = make()
    robot = FakeRobot()
    t = active(b, robot, action_with(base_velocity=[0.3, 0.0]))
    assert b.tick(t).base.vx == pytest.approx(0.3)
    last = t - DT  # the last action came with the last tick of active()
    out, t = run(b, robot, t + DT, t + 0.24, DT)  # silence
    assert b.state == State.HOLD and out.base.vx == 0.0 and out.body_q is not None
    out, t = run(b, robot, t, last + 0.99, DT)
    assert b.state == State.HOLD
    out, t = run(b, robot, t, last + 1.05, DT)
    assert b.state == State.DAMPING and out.damping
    assert (out.lowcmd.motors.kp == 0).all() and out.lowcmd.motors.kd[:29] == pytest.approx(8.0)
    out, t = run(b, robot, t, t + 0.5, DT, al.standing_action())  # actions are back: still latched
    assert b.state == State.DAMPING and out.damping
    ok, msg = b.reset(t)
    assert ok, msg
    out, t = run(b, robot, t, t + 0.1, DT, al.standing_action())
    assert b.state == State.RAMP


def test_lowstate_timeout_damps():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    out, t2 = run(b, robot, t, t + 0.08, DT, al.standing_action(), lowstate=False)
    assert b.state == State.ACTIVE  # last LowState at t - DT: 80 ms old is still fine
    out, _ = run(b, robot, t2, t2 + 0.04, DT, al.standing_action(), lowstate=False)
    assert b.state == State.DAMPING and out.damping and "LowState" in b.reason


@pytest.mark.parametrize("fault,word", [
    (lambda r: setattr(r, "quat", np.array([np.cos(0.55), np.sin(0.55), 0.0, 0.0])), "tilt"),   # 1.1 rad roll
    (lambda r: r.dq.__setitem__(3, 10.5), "rad/s"),
    (lambda r: setattr(r, "gyro", np.array([0.0, 6.5, 0.0])), "pelvis turns"),
    (lambda r: r.q.__setitem__(0, np.nan), "non-finite"),
])
def test_bad_robot_state_damps(fault, word):
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    fault(robot)
    b.on_lowstate(robot.state(t))
    out = b.tick(t)
    assert b.state == State.DAMPING and out.damping and word in b.reason
    assert out.body_q is None and np.isfinite(out.lowcmd.motors.q).all()


def test_tilt_just_below_limit_keeps_driving():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    robot.quat = np.array([np.cos(0.45), np.sin(0.45), 0.0, 0.0])  # 0.9 rad
    out, _ = run(b, robot, t, t + 0.2, DT, al.standing_action())
    assert b.state == State.ACTIVE and not out.damping


def test_estop_damps_at_once_and_stays_latched():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    b.estop(t + 0.001, "test")
    out = b.tick(t + 0.001, scheduled=False)
    assert out.damping and b.state == State.ESTOP and (out.lowcmd.motors.kp == 0).all()
    out, t = run(b, robot, t + DT, t + 1.0, DT, al.standing_action())
    assert b.state == State.ESTOP and all(c[3] for c in robot.commands[-10:])
    assert b.reset(t)[0]
    out = b.tick(t)
    assert b.state == State.RAMP
    np.testing.assert_allclose(out.body_q, robot.q, atol=1e-9)  # ramps from where the robot is


def test_a_command_computed_before_an_estop_is_not_sent_after_it():
    # The node computes each LowCmd shortly before its deadline; an e-stop in between wins.
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    prepared = b.tick(t + DT)
    assert not prepared.damping and prepared.lowcmd is not None and b.still_sendable(prepared)
    b.estop(t + DT + 0.001, "test")
    damping = b.tick(t + DT + 0.001, scheduled=False)
    assert not b.still_sendable(prepared)
    assert b.still_sendable(damping)


def test_reset_refused_while_fault_persists():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    robot.gyro = np.array([7.0, 0.0, 0.0])
    run(b, robot, t, t + 0.1, DT, al.standing_action())
    assert b.state == State.DAMPING
    ok, msg = b.reset(t + 0.1)
    assert not ok and "pelvis" in msg and b.state == State.DAMPING
    assert b.reset(t)[0] is False or b.state != State.ACTIVE


def test_second_lowcmd_writer_blocks_then_ramps_again():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    b.set_other_writers(["/rogue"], t)
    out, t = run(b, robot, t, t + 0.5, DT, al.standing_action())
    assert b.state == State.BLOCKED and out.lowcmd is None and "refusing" in b.reason and "/rogue" in b.reason
    robot.q[g1.LEFT_ARM] = 0.0  # the other writer moved the arm
    b.on_lowstate(robot.state(t))
    b.set_other_writers([], t)
    out = b.tick(t)
    assert b.state == State.RAMP
    np.testing.assert_allclose(out.body_q, robot.q, atol=1e-9)


def test_estop_overrides_blocked():
    b = make()
    robot = FakeRobot()
    t = active(b, robot)
    b.set_other_writers(["/rogue"], t)
    b.estop(t, "test")
    assert b.tick(t, scheduled=False).damping


def test_only_configured_source_drives():
    b = make(source="policy")
    robot = FakeRobot()
    policy = action_with(left_arm=[0.4, 0.2, 0.0, 0.9, 0.0, 0.0, 0.0])
    teleop = action_with(left_arm=[-0.4, 0.2, 0.0, 0.2, 0.0, 0.0, 0.0])

    def both(t):
        b.on_action(teleop, TELEOP, t)
        return policy

    run(b, robot, 0.0, 4.0, DT, both)
    assert b.state == State.ACTIVE and b.status().driving_source == "policy"
    assert b.ignored["teleop"] == 200
    np.testing.assert_allclose(robot.commands[-1][2][g1.LEFT_ARM], policy[al.LEFT_ARM], atol=1e-6)
    # Teleop alone never drives: the policy's silence is a timeout, not a hand-over.
    run(b, robot, 4.0, 5.5, DT, teleop, source=TELEOP)
    assert b.state == State.DAMPING


def test_kinematic_squat_and_torso_follow_commands():
    b = make()
    robot = FakeRobot()
    a = action_with(base_height=0.6, torso_rpy=[0.2, 0.3, -0.4], base_velocity=[0.2, -0.1], yaw=[0.3, 0.0])
    run(b, robot, 0.0, 6.0, DT, a)
    q = robot.commands[-1][2]
    assert q[g1.WAIST_ROLL] == pytest.approx(0.2) and q[g1.WAIST_PITCH] == pytest.approx(0.3)
    assert q[g1.WAIST_YAW] == pytest.approx(-0.4)
    assert q[3] > 0.8 and q[9] == pytest.approx(q[3])                  # both knees bend more
    assert q[0] + q[3] + q[4] == pytest.approx(0.0, abs=1e-9)          # foot flat, pelvis upright
    base = b.tick(6.0).base
    assert base.height == pytest.approx(0.6, abs=1e-3)
    assert (base.vx, base.vy, base.yaw_rate) == pytest.approx((0.2, -0.1, 0.3))


def test_squat_leg_matches_default_pose_and_round_trips():
    leg = SquatLeg(0.3, 0.3)
    hip, knee, ankle = leg.joints(g1.NOMINAL_PELVIS_HEIGHT)
    np.testing.assert_allclose((hip, knee, ankle), g1.DEFAULT_BODY_POSE[[0, 3, 4]], atol=1e-9)
    for h in (0.45, 0.55, 0.7, 0.75):
        hip, knee, _ = leg.joints(h)
        assert leg.height(hip, knee) == pytest.approx(h, abs=1e-9)
    assert leg.joints(0.9) == pytest.approx(leg.joints(leg.max_height))


def test_backend_failure_damps():
    class Broken:
        name = "broken"

        def reset(self, state):
            pass

        def lower_body(self, state, action, now):
            raise FloatingPointError("policy returned NaN")

        def base_command(self, action, q):
            return None

    b = Bridge(BridgeConfig(startup_settle=0.0), backend=Broken())
    robot = FakeRobot()
    out, _ = run(b, robot, 0.0, 0.1, DT, al.standing_action())
    assert b.state == State.DAMPING and out.damping and "NaN" in b.reason


def test_hold_backend_holds_measured_lower_body():
    b = make(backend="hold")
    robot = FakeRobot(q=crouched())
    run(b, robot, 0.0, 3.0, DT, action_with(base_height=0.75, torso_rpy=[0.3, 0.3, 0.3]))
    np.testing.assert_allclose(robot.commands[-1][2][g1.LOWER_BODY], crouched()[g1.LOWER_BODY], atol=1e-9)


def test_hands_wait_for_state_ramp_and_go_limp():
    b = make(hand_kp=[1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0])
    robot = FakeRobot()
    a = action_with(left_hand=[0.5, 0.5, 1.0, -1.0, -1.0, -1.0, -1.0])
    run(b, robot, 0.0, 0.1, DT, a)
    assert b.hand_tick(0.1) == {"left": None, "right": None}  # no hand state: never commanded
    t = 0.1
    b.on_hand_state("left", np.zeros(7), t)
    first = b.hand_tick(t)["left"]
    np.testing.assert_allclose(first.q, 0.0)  # starts where the hand is
    assert list(first.mode) == [dex3_mode_byte(i) for i in range(7)]
    prev = first.q
    for i in range(1, 300):
        tt = t + i * 0.01
        b.on_hand_state("left", prev, tt)
        cmd = b.hand_tick(tt)["left"]
        assert np.all(np.abs(cmd.q - prev) <= b.cfg.hand_velocity_cap * 0.01 + 1e-9)
        prev = cmd.q
    np.testing.assert_allclose(prev, a[al.LEFT_HAND], atol=1e-6)
    assert list(cmd.kp) == pytest.approx([1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0]) and cmd.kd == pytest.approx(0.2)
    stale = b.hand_tick(tt + 0.6)["left"]  # hand state 0.6 s old
    assert stale.damping
    b.on_hand_state("left", prev, tt + 0.6)
    b.estop(tt + 0.6)
    assert b.hand_tick(tt + 0.6)["left"].damping


def test_config_rejects_unsafe_or_incomplete_settings():
    with pytest.raises(ConfigError, match="amo_policy_path"):
        BridgeConfig(backend="amo")
    with pytest.raises(ConfigError, match="multiple"):
        BridgeConfig(backend="amo", control_rate_hz=120.0, amo_policy_path="a", amo_adapter_path="b",
                     amo_norm_stats_path="c")
    with pytest.raises(ConfigError, match="ramp_duration"):
        BridgeConfig(ramp_duration=1.0)
    with pytest.raises(ConfigError, match="29"):
        BridgeConfig(body_kp=[1.0] * 12)
    with pytest.raises(ConfigError, match="hand_kd: expected 7"):
        BridgeConfig(hand_kd=[0.1] * 6)


def test_500hz_loop_step_below_cap():
    b = make(control_rate_hz=500.0)
    robot = FakeRobot(q=crouched())
    run(b, robot, 0.0, 3.0, 0.002, action_with(base_height=0.55, torso_rpy=[0.0, 0.4, 0.0]))
    assert b.state == State.ACTIVE
    assert np.all(robot.max_step() <= b.cfg.body_velocity_caps() * 0.002 + 1e-9)


def test_docs_list_every_parameter():
    from pathlib import Path

    from psi0_common.config import markdown_table

    doc = (Path(__file__).resolve().parents[3] / "docs" / "bridge.md").read_text()
    assert markdown_table(BridgeConfig) in doc, "docs/bridge.md parameter table is stale: regenerate it"
