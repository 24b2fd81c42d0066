"""Teleop core safety: stale data holds, jumps are rejected, e-stop, explicit engage."""
import numpy as np
import pytest

from psi0_common import action_layout as al
from psi0_teleop.config import TeleopConfig
from psi0_teleop.devices import TrackerSample
from psi0_teleop.devices.synthetic import Segment, SyntheticOperator, WristTarget
from psi0_teleop.geometry import Pose
from psi0_teleop.teleop import TeleopCore


def feed(core, op, t0, t1, rate=30.0, drop_trackers=False):
    outs, t = [], t0
    while t < t1 - 1e-9:
        trackers, gloves = op.poll(t)
        if not drop_trackers:
            for s in trackers:
                core.on_trackers(s)
        for g in gloves:
            core.on_gloves(g)
        outs.append(core.step(t))
        t += 1.0 / rate
    return outs, t


@pytest.fixture
def setup(ik):
    core = TeleopCore(TeleopConfig(), ik=ik)
    op = SyntheticOperator([Segment(1.0, "ref"), Segment(0.5, "engage", engage=True),
                            Segment(3.0, "walk+reach", walk=(0.4, 0.0), right_wrist=WristTarget((0.35, -0.2, 0.95)),
                                    right_grip=1.0),
                            Segment(5.0, "walk", walk=(0.4, 0.0))], seed=11, robot_reference=ik.reference)
    return core, op


def test_not_engaged_publishes_nothing(setup):
    core, op = setup
    outs, _ = feed(core, op, 0.0, 0.9)
    assert all(o.action is None for o in outs) and not core.status.engaged


def test_engage_button_calibrates_and_drives(setup):
    core, op = setup
    outs, _ = feed(core, op, 0.0, 3.0)
    assert core.status.engaged and core.status.calibrated
    assert outs[-1].action is not None and outs[-1].action.shape == (al.ACTION_DIM,)


def test_stale_tracker_data_holds(setup):
    core, op = setup
    outs, t = feed(core, op, 0.0, 4.0)
    last = outs[-1].action
    assert last[al.BASE_VX] > 0.1                                  # walking before the dropout
    held, t = feed(core, op, t, t + 1.0, drop_trackers=True)       # trackers stop, gloves continue
    fresh = [o for o in held if not o.status.trackers_stale]
    stale = [o for o in held if o.status.trackers_stale]
    assert len(fresh) <= 4                                         # <= 100 ms of ticks before the flag
    assert stale and all(o.status.holding for o in stale)
    for o in stale:
        a = o.action
        assert a[al.BASE_VX] == 0.0 and a[al.BASE_VY] == 0.0 and a[al.YAW_RATE] == 0.0
        assert np.array_equal(a[al.ARMS], stale[0].action[al.ARMS])
        assert a[al.TARGET_YAW] == last[al.TARGET_YAW] or abs(a[al.TARGET_YAW] - last[al.TARGET_YAW]) < 0.05
    # Data comes back: driving resumes.
    back, _ = feed(core, op, t, t + 1.0)
    assert not back[-1].status.trackers_stale and not back[-1].status.holding


def test_stale_gloves_hold_the_hands(setup):
    core, op = setup
    outs, t = feed(core, op, 0.0, 4.4)
    hands = outs[-1].action[al.HANDS].copy()
    assert np.abs(hands).max() > 0.5                               # grip closed
    t_end = t + 0.5
    while t < t_end:
        trackers, _ = op.poll(t)                                   # gloves dropped
        for s in trackers:
            core.on_trackers(s)
        o = core.step(t)
        t += 1 / 30
    assert o.status.gloves_stale
    assert np.allclose(o.action[al.HANDS], hands, atol=0.05)


def test_pose_jump_is_rejected(setup):
    core, op = setup
    outs, t = feed(core, op, 0.0, 2.0)
    s = core.latest
    jumped = dict(s.poses)
    jumped["right_wrist"] = Pose(s.poses["right_wrist"].pos + np.array([0.0, 0.0, 0.8]), s.poses["right_wrist"].rot)
    before = core.guard.rejected
    core.on_trackers(TrackerSample(s.stamp + 0.011, jumped))
    assert core.guard.rejected == before + 1
    assert core.latest is s
    assert any("jumped" in m for m in core.drain_messages())


def test_estop_stops_driving_and_is_reported(setup):
    core, op = setup
    feed(core, op, 0.0, 2.0)
    s = core.latest
    core.on_trackers(TrackerSample(s.stamp + 0.011, s.poses, estop=True))
    out = core.step(2.01)
    assert out.estop and out.action is None and not core.status.engaged
    assert "release" in core.set_engaged(True)                     # cannot engage while pressed


def test_engage_refused_without_calibration_when_disabled(ik):
    core = TeleopCore(TeleopConfig(calibrate_on_engage=False), ik=ik)
    assert "not calibrated" in core.set_engaged(True) and not core.status.engaged


def test_engage_warm_starts_from_the_measured_robot_state(setup):
    core, op = setup
    feed(core, op, 0.0, 0.9)                       # reference pose, not engaged yet
    arms = np.full(14, 0.3)
    core.set_robot_state(arms, np.array([0.1, 0.05, -0.05]), imu_yaw=0.7)
    assert core.set_engaged(True).startswith("engaged")
    assert np.allclose(core.ik.q[core.ik.i_arms], arms)
    assert np.allclose(core.ik.q[core.ik.i_waist], [0.1, 0.05, -0.05])
    t_prev = core.last_step
    out = core.step(0.95)
    assert out.action[al.TARGET_YAW] == pytest.approx(0.7)
    # the first command moves from the measured pose by at most one velocity-limited step
    assert np.max(np.abs(out.action[al.ARMS] - arms)) <= core.cfg.max_arm_velocity * (0.95 - t_prev) + 1e-6
