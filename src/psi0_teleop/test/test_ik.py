"""Multi-target IK on the simulator's G1 model."""
import numpy as np
import pytest

from psi0_teleop.geometry import Pose, rotation_angle
from psi0_teleop.ik import ARM_JOINTS, IKParams, WholeBodyIK


def random_configuration(ik, rng):
    q = ik.q_ref.copy()
    q[ik.i_arms] += rng.uniform(-0.8, 0.8, 14)
    q[ik.i_waist] += rng.uniform(-0.35, 0.35, 3)
    q[ik.i_height] = rng.uniform(0.58, 0.79)
    return np.clip(q, ik.model.lowerPositionLimit, ik.model.upperPositionLimit)


def test_reaches_reachable_random_targets(ik):
    rng = np.random.default_rng(7)
    for trial in range(12):
        q_goal = random_configuration(ik, rng)
        targets = ik.frames_at(q_goal).poses
        ik.reset()
        for _ in range(120):
            res = ik.solve(targets, 1 / 30)
        assert res.ok, res.message
        for name, (pos_err, rot_err) in res.errors.items():
            assert pos_err < 0.01, f"trial {trial}: {name} position error {pos_err:.4f} m"
            assert np.degrees(rot_err) < 5.0, f"trial {trial}: {name} orientation error {np.degrees(rot_err):.2f} deg"
        # The reported errors are true: check them against forward kinematics of the solution.
        fk = ik.frames_at(res.q).poses
        for name, tgt in targets.items():
            assert np.linalg.norm(fk[name].pos - tgt.pos) < 0.01
            assert rotation_angle(fk[name].rot.T @ tgt.rot) < np.radians(5)


def test_output_layout_matches_configuration(ik):
    q = random_configuration(ik, np.random.default_rng(1))
    ik.reset(q)
    res = ik.result(True, 0.0)
    assert np.allclose(res.arms, q[ik.i_arms])
    yaw, roll, pitch = q[ik.i_waist]
    assert np.allclose(res.torso_rpy, [roll, pitch, yaw])
    assert res.height == pytest.approx(q[ik.i_height])
    assert [ik.names[i] for i in ik.i_arms] == list(ARM_JOINTS)  # every joint is 1-DoF: q index = joint order


def test_unreachable_target_is_closest_feasible_without_jumps(ik):
    ref = ik.reference.poses
    far = dict(ref)
    far["right_wrist"] = Pose(ref["right_wrist"].pos + np.array([1.5, -0.8, 0.6]), ref["right_wrist"].rot)
    dt = 1 / 30
    prev = ik.q.copy()
    errs = []
    vmax = ik.model.velocityLimit
    for _ in range(300):
        res = ik.solve(far, dt)
        assert res.ok, res.message
        step = np.abs(res.q - prev)
        assert np.all(step <= vmax * dt + 1e-6), "a joint moved faster than its velocity limit"
        assert np.all(res.q >= ik.model.lowerPositionLimit - 1e-9) and np.all(res.q <= ik.model.upperPositionLimit + 1e-9)
        prev = res.q.copy()
        errs.append(res.errors["right_wrist"][0])
    # Converges to a steady closest pose: error no longer changing, and far below the start error.
    assert errs[-1] < errs[0]
    assert abs(errs[-1] - errs[-10]) < 2e-3
    # The arm is stretched out towards the target: the palm is further than in the reference.
    palm = ik.frames_at(res.q).poses["right_wrist"].pos
    assert np.linalg.norm(palm - ref["right_wrist"].pos) > 0.2


def test_solver_failure_holds_and_reports(ik, monkeypatch):
    targets = ik.frames_at(random_configuration(ik, np.random.default_rng(3))).poses
    for _ in range(5):
        ik.solve(targets, 1 / 30)
    before = ik.q.copy()
    failures = ik.failures

    def boom(*a, **k):
        raise RuntimeError("QP infeasible")

    monkeypatch.setattr(ik.pink, "solve_ik", boom)
    res = ik.solve(targets, 1 / 30)
    assert not res.ok and "holding" in res.message
    assert np.array_equal(res.q, before) and np.array_equal(ik.q, before)
    assert ik.failures == failures + 1


def test_non_finite_target_is_refused(ik):
    before = ik.q.copy()
    bad = dict(ik.reference.poses)
    bad["head"] = Pose(np.array([np.nan, 0, 1]), np.eye(3))
    res = ik.solve(bad, 1 / 30)
    assert not res.ok and "non-finite" in res.message
    assert np.array_equal(ik.q, before)
    with pytest.raises(ValueError):
        ik.solve(ik.reference.poses, 0.0)


def test_height_limits_and_squat(ik):
    ref = ik.reference.poses
    low = dict(ref)
    low["head"] = Pose(ref["head"].pos - np.array([0, 0, 0.6]), ref["head"].rot)
    for _ in range(200):
        res = ik.solve(low, 1 / 30)
    assert res.height == pytest.approx(ik.p.height_range[0], abs=1e-6)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        WholeBodyIK(IKParams(model_path=str(tmp_path / "nope.xml")))
