"""Calibration: reference pose -> robot reference posture; robot-frame scripted targets round-trip."""
import numpy as np
import pytest

from psi0_teleop.calibration import Calibration, CalibrationError, OperatorMapper, calibrate
from psi0_teleop.devices import TrackerSample
from psi0_teleop.devices.synthetic import Segment, SyntheticOperator, WristTarget
from psi0_teleop.geometry import rotation_angle


def first_sample(op, t=0.0):
    trackers, _ = op.poll(t)
    return trackers[-1]


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_reference_pose_maps_to_robot_reference(ik, seed):
    op = SyntheticOperator([Segment(2.0, "ref")], seed=seed, robot_reference=ik.reference, sway=0.0)
    op.tremor = 0.0
    s0 = first_sample(op)
    cal = calibrate(s0, ik.reference)
    assert cal.scale == pytest.approx(ik.reference.head_height / op.body.head[2], rel=0.02)
    targets, body, _ = OperatorMapper(cal, ik.reference).map(first_sample(op, 1.0))
    for name, pose in targets.items():
        ref = ik.reference.poses[name]
        assert np.linalg.norm(pose.pos - ref.pos) < 0.005, name
        assert rotation_angle(pose.rot.T @ ref.rot) < np.radians(1.0), name


def test_scripted_robot_frame_reach_arrives_at_the_target(ik):
    goal = WristTarget((0.35, -0.15, 0.95), (0.3, -0.2, 0.4))
    op = SyntheticOperator([Segment(1.0, "ref"), Segment(2.0, "reach", right_wrist=goal), Segment(1.0, "hold")],
                           seed=2, robot_reference=ik.reference, sway=0.0)
    op.tremor = 0.0
    cal = calibrate(first_sample(op), ik.reference)
    mapper = OperatorMapper(cal, ik.reference)
    targets, _, _ = mapper.map(first_sample(op, 3.9))
    from psi0_teleop.geometry import rpy_to_mat
    assert np.linalg.norm(targets["right_wrist"].pos - np.array(goal.pos)) < 0.01
    assert rotation_angle(targets["right_wrist"].rot.T @ rpy_to_mat(*goal.rpy)) < np.radians(2)
    # and the IK gets the robot there
    ik.reset()
    for _ in range(120):
        res = ik.solve(targets, 1 / 30)
    assert res.errors["right_wrist"][0] < 0.01


def test_save_load_round_trip_is_exact(ik, tmp_path):
    op = SyntheticOperator([Segment(1.0)], seed=1, robot_reference=ik.reference)
    cal = calibrate(first_sample(op), ik.reference)
    path = tmp_path / "cal" / "operator.json"
    cal.save(path)
    back = Calibration.load(path)
    assert back.scale == cal.scale and back.floor_z == cal.floor_z and back.heading0 == cal.heading0
    for k in cal.rot_offsets:
        assert np.array_equal(back.rot_offsets[k], cal.rot_offsets[k])
    for k in cal.rel0:
        assert np.array_equal(back.rel0[k], cal.rel0[k])


def test_bad_calibration_input_is_refused(ik, tmp_path):
    op = SyntheticOperator([Segment(1.0)], seed=1, robot_reference=ik.reference)
    s = first_sample(op)
    poses = dict(s.poses)
    poses["waist"] = None
    with pytest.raises(CalibrationError, match="waist"):
        calibrate(TrackerSample(s.stamp, poses), ik.reference)
    crouched = {k: (None if v is None else type(v)(v.pos - np.array([0, 1.2, 0]) * (k == "head"), v.rot))
                for k, v in s.poses.items()}
    with pytest.raises(CalibrationError, match="implausible"):
        calibrate(TrackerSample(s.stamp, crouched), ik.reference)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "scale": "x"}')
    with pytest.raises(CalibrationError):
        Calibration.load(bad)
    with pytest.raises(CalibrationError, match="does not exist"):
        Calibration.load(tmp_path / "missing.json")
