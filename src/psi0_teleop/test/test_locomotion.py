"""Locomotion mapping from the synthetic operator's waist and foot trackers, through the full teleop core."""
import numpy as np
import pytest

from psi0_common import action_layout as al
from psi0_teleop.config import TeleopConfig
from psi0_teleop.devices.synthetic import Segment, SyntheticOperator
from psi0_teleop.locomotion import LocomotionMapper, LocomotionParams
from psi0_teleop.teleop import TeleopCore


def run(core, op, rate=30.0):
    """Drive the core from the operator until the script ends; returns [(t, segment label, action)]."""
    out, t = [], 0.0
    while not op.done():
        trackers, gloves = op.poll(t)
        label = op.segment.label
        for s in trackers:
            core.on_trackers(s)
        for g in gloves:
            core.on_gloves(g)
        res = core.step(t)
        if res.action is not None:
            out.append((t, label, res.action))
        t += 1.0 / rate
    return out


@pytest.fixture
def core(ik):
    return TeleopCore(TeleopConfig(), ik=ik)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sway_only_gives_exactly_zero_velocity(core, seed):
    # 30 s of standing with natural sway at twice the default amplitude, plus hand tremor.
    op = SyntheticOperator([Segment(1.0, "ref"), Segment(0.5, "engage", engage=True), Segment(30.0, "stand")],
                           seed=seed, robot_reference=core.reference, sway=2.0)
    log = run(core, op)
    acts = np.array([a for _, label, a in log if label == "stand"])
    assert len(acts) > 800
    assert np.all(acts[:, al.BASE_VX] == 0.0) and np.all(acts[:, al.BASE_VY] == 0.0)
    assert np.all(acts[:, al.YAW_RATE] == 0.0)
    assert np.all(acts[:, al.TARGET_YAW] == acts[0, al.TARGET_YAW])


def test_synthetic_walk_gives_expected_vx_and_yaw(core):
    cfg = core.cfg
    speed, turn_rate, turn_time = 0.4, 0.4, 3.0
    op = SyntheticOperator([Segment(1.0, "ref"), Segment(0.5, "engage", engage=True),
                            Segment(5.0, "walk", walk=(speed, 0.0)), Segment(2.0, "stop"),
                            Segment(turn_time, "turn", turn=turn_rate), Segment(3.0, "settle")],
                           seed=3, robot_reference=core.reference)
    log = run(core, op)
    walk = np.array([a for t, label, a in log if label == "walk"])
    steady = walk[len(walk) // 2:]
    expected_vx = cfg.velocity_gain * (speed - cfg.velocity_deadband)
    assert steady[:, al.BASE_VX].mean() == pytest.approx(expected_vx, abs=0.04)
    assert abs(steady[:, al.BASE_VY].mean()) < 0.03
    assert np.all(walk[:, al.YAW_RATE] == 0.0)
    stop = np.array([a for t, label, a in log if label == "stop"])
    assert np.all(stop[-30:, al.BASE_VX] == 0.0)           # stops within a second
    turn = np.array([a for t, label, a in log if label in ("turn", "settle")])
    assert np.all(turn[:, al.BASE_VX] == 0.0)               # turning in place is not walking
    final_yaw = turn[-1, al.TARGET_YAW]
    assert final_yaw == pytest.approx(turn_rate * turn_time - cfg.yaw_deadband, abs=0.05)
    assert turn[:, al.YAW_RATE].max() > 0.2 and turn[-1, al.YAW_RATE] == 0.0
    # Yaw rate and target yaw are consistent: integrating the rate gives the target.
    rates = np.array([a[al.YAW_RATE] for _, _, a in log])
    assert np.sum(rates) / 30.0 == pytest.approx(final_yaw, abs=0.02)


def test_sideways_and_backwards_signs(core):
    op = SyntheticOperator([Segment(1.0, "ref"), Segment(0.5, "engage", engage=True),
                            Segment(4.0, "left", walk=(0.0, 0.35)), Segment(2.0, "stop"),
                            Segment(4.0, "back", walk=(-0.35, 0.0))], seed=4, robot_reference=core.reference)
    log = run(core, op)
    left = np.array([a for _, label, a in log if label == "left"])[-40:]
    back = np.array([a for _, label, a in log if label == "back"])[-40:]
    assert left[:, al.BASE_VY].mean() > 0.15 and abs(left[:, al.BASE_VX].mean()) < 0.05
    assert back[:, al.BASE_VX].mean() < -0.15


def test_velocity_is_clipped():
    m = LocomotionMapper(LocomotionParams())
    t = 0.0
    for k in range(200):
        t = k / 90
        cmd = m.update(t, np.array([2.0 * t, 0.0]), 0.0, 0.0)
    assert cmd.vx == pytest.approx(0.5) and cmd.moving


def test_hold_zeroes_velocity_and_keeps_target_yaw():
    m = LocomotionMapper(LocomotionParams())
    for k in range(200):
        t = k / 90
        cmd = m.update(t, np.array([0.5 * t, 0.0]), 0.0, 0.5 * min(t, 1.0))
    held = m.hold()
    assert held.vx == 0.0 and held.vy == 0.0 and held.yaw_rate == 0.0
    assert held.target_yaw == cmd.target_yaw != 0.0
