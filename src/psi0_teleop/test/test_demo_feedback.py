"""The demonstrator's hand-eye correction and base odometry (ROS-free)."""
import numpy as np
import pytest

from psi0_sim.layout import sample_layout
from psi0_teleop.calibration import OperatorMapper, calibrate
from psi0_teleop.demo.feedback import CorrectedOperator, FeedbackParams, measured_palms
from psi0_teleop.demo.planner import plan_demo
from psi0_teleop.demo.session import BaseOdometry


def advance_to(op, label, fraction=0.9):
    """Poll the operator until `fraction` of the next segment called `label` has run; return the samples."""
    i = next(k for k in range(op.seg_index, len(op.script)) if op.script[k].label == label)
    t = sum(s.duration for s in op.script[:i]) + fraction * op.script[i].duration
    trackers, _ = op.poll(t)
    assert op.segment.label == label
    return trackers


@pytest.fixture
def plan():
    return plan_demo(sample_layout("cube_in_box", 3))


def test_correction_integrates_only_while_aligning_and_is_clipped(ik_model, plan):
    side = plan.side
    op = CorrectedOperator(plan.segments, seed=0, robot_reference=ik_model.reference,
                           feedback=FeedbackParams(gain=5.0, limit=0.03), expected_base=plan.expected_base)
    op.poll(0.0)
    advance_to(op, "descend", 0.1)                   # moving down: no correction
    target = np.array(op.script[op.seg_index].__getattribute__(f"{side}_wrist").pos)
    op.feedback({side: target - [0.02, 0.0, 0.0]}, 0.1)
    assert not np.any(op.correction[side])
    op2 = CorrectedOperator(plan.segments, seed=0, robot_reference=ik_model.reference,
                            feedback=FeedbackParams(gain=5.0, limit=0.03), expected_base=plan.expected_base)
    op2.poll(0.0)
    advance_to(op2, "align", 0.8)
    target = np.array(op2.planned_target(side))
    op2.feedback({side: target - [0.02, -0.01, 0.004]}, 0.1)   # palm short, too far left, low
    c = op2.correction[side]
    assert c == pytest.approx(5.0 * 0.1 * np.array([0.02, -0.01, 0.004]))
    for _ in range(50):
        op2.feedback({side: target - [0.02, -0.01, 0.004]}, 0.1)
    assert np.allclose(op2.correction[side], [0.03, -0.03, 0.03])   # clipped per axis
    advance_to(op2, "settle", 0.8)                   # at the grasp height: horizontal only
    before = op2.correction[side].copy()
    op2.feedback({side: np.array(op2.planned_target(side)) + [0.0, 0.0, 0.05]}, 0.1)
    assert op2.correction[side][2] == before[2]
    advance_to(op2, "hands down", 0.5)
    op2.feedback({side: np.zeros(3)}, 0.1)
    assert not np.any(op2.correction[side])          # back at the start pose: forgotten


def test_correction_moves_the_teleop_target_by_the_same_amount(ik_model, plan):
    """Through the real calibration + mapping: a robot-frame correction shifts the IK target one to one."""
    side = plan.side
    ref = ik_model.reference
    op = CorrectedOperator(plan.segments, seed=4, robot_reference=ref, sway=0.0)
    samples = op.poll(0.0)[0] + op.poll(1.0)[0]
    mapper = OperatorMapper(calibrate(samples[-1], ref), ref)
    trackers = advance_to(op, "align", 0.95)
    base_target = mapper.map(trackers[-1])[0][f"{side}_wrist"].pos
    op.correction[side] = np.array([0.02, -0.015, 0.01])
    trackers = op.poll(op.t_sim + 0.05 + op.t_start)[0]
    assert trackers, "no new sample"
    moved = mapper.map(trackers[-1])[0][f"{side}_wrist"].pos
    assert moved - base_target == pytest.approx([0.02, -0.015, 0.01], abs=3e-3)


def test_base_offset_follows_the_odometry_only_when_standing(ik_model):
    plan = plan_demo(sample_layout("cube_in_box_walk", 2))
    op = CorrectedOperator(plan.segments, seed=0, robot_reference=ik_model.reference,
                           expected_base=plan.expected_base)
    op.poll(0.0)
    advance_to(op, "walk to the cube", 0.5)
    op.set_base([0.0, 0.1])
    assert not np.any(op.base_offset)                # walking: not yet
    advance_to(op, "align", 0.5)
    op.set_base([-0.01, plan.base_shift + 0.02])      # the base went 2 cm further and drifted back 1 cm
    assert op.base_offset[:2] == pytest.approx([0.01, -0.02])


def test_base_odometry_integrates_commands_with_their_hold_timeout():
    odo = BaseOdometry(timeout=0.5)
    odo.command(0.0, 0.0, 0.2, 0.0)
    odo.command(1.0, 0.1, 0.0, 0.0)                  # the first held 0.5 s at most: 0.1 m left
    assert odo.xy == pytest.approx([0.0, 0.1])
    odo.command(1.2, 0.0, 0.0, 0.0)
    assert odo.xy == pytest.approx([0.02, 0.1])
    odo.reset()
    assert not np.any(odo.xy)


def test_measured_palms_match_the_reference_posture(ik_model):
    q = ik_model.q_ref
    arms, waist, height = q[ik_model.i_arms], np.zeros(3), float(q[ik_model.i_height])
    palms = measured_palms(ik_model, arms, waist, height)
    for side in ("left", "right"):
        assert palms[side] == pytest.approx(ik_model.reference.poses[f"{side}_wrist"].pos, abs=1e-9)
