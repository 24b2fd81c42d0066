"""The scripted demonstrator's planner and episode session (ROS-free)."""
import numpy as np
import pytest

from psi0_sim.layout import BOX_RIM_HEIGHT, HAND_BAND, REACH_LIMIT_Y, TABLE_TOP_Z, sample_layout
from psi0_teleop.calibration import IK_TARGETS
from psi0_teleop.demo.planner import PlanParams, hanging_palm, plan_demo, predict_walk
from psi0_teleop.demo.config import ScriptedOperatorConfig
from psi0_teleop.demo.session import DemoSession, EpisodeWatch
from psi0_teleop.geometry import Pose, rpy_to_mat

P = PlanParams()
TABLE_EDGE_X = 0.22
FINGER_REACH = 0.16      # palm site to the open fingertips (m)


def wrist_targets(plan, side):
    """(label, position, rotation) of every wrist target the plan gives `side`, in the robot frame."""
    out = []
    for seg in plan.segments:
        t = getattr(seg, f"{side}_wrist")
        if t is not None:
            out.append((seg.label, np.array(t.pos), rpy_to_mat(*t.rpy)))
    return out


@pytest.mark.parametrize("task", ["cube_in_box", "cube_in_box_walk"])
def test_plans_are_deterministic_and_collision_plausible_for_many_seeds(task):
    sides = set()
    for seed in range(40):
        lay = sample_layout(task, seed)
        plan = plan_demo(lay)
        assert plan.labels() == plan_demo(lay).labels() and np.allclose(plan.palm_grasp, plan_demo(lay).palm_grasp)
        sides.add(plan.side)
        if task == "cube_in_box":                    # the carrying hand's side of the table holds both objects
            ys = np.array([lay.cube_xy[1], lay.box_xy[1]])
            assert (ys >= -HAND_BAND).all() if plan.side == "left" else (ys <= HAND_BAND).all()
        assert plan.labels()[0] == "reference pose" and plan.labels()[-1] == "hands down"
        assert plan.labels()[1] == "hands down"      # the teleop engages with the hands where a reset puts them
        assert 0 < plan.calibrate_at < plan.engage_at < plan.duration
        for label, pos, rot in wrist_targets(plan, plan.side):
            assert np.isfinite(pos).all()
            tips = pos + FINGER_REACH * rot[:, 0]
            world_z = min(pos[2], tips[2]) + P.sim_height_offset
            if max(pos[0], tips[0]) > TABLE_EDGE_X:      # over the table: above its top
                assert world_z > TABLE_TOP_Z - 0.005, (seed, label, pos, tips)
            assert 0.0 < pos[0] < 0.5 and abs(pos[1]) < 0.45 and 0.55 < pos[2] < 1.1, (seed, label, pos)
        # The grasp: the cube centre sits at cube_in_palm in the hand frame (mirrored for the right hand).
        cube_in_robot = np.array([*lay.cube_xy, TABLE_TOP_Z + 0.02 - P.sim_height_offset]) - [0, plan.base_shift, 0]
        seg = next(t for t in plan.segments if t.label == "descend")
        rot = rpy_to_mat(*getattr(seg, f"{plan.side}_wrist").rpy)
        local = rot.T @ (cube_in_robot - plan.palm_grasp)
        mirror = np.array([1.0, -1.0 if plan.side == "left" else 1.0, 1.0])
        assert np.allclose(local, mirror * np.array(P.cube_in_palm), atol=1e-9), (seed, local)
        # The release: the held cube (cube_held) above the box centre, below the rim, above the floor.
        i = plan.labels().index("lower")
        rot = rpy_to_mat(*getattr(plan.segments[i], f"{plan.side}_wrist").rpy)
        base = np.array([*plan.expected_base[i], 0.0])          # walk task: the predicted return residual
        cube_at_release = plan.palm_place + base + rot @ (mirror * np.array(P.cube_held))
        assert np.allclose(cube_at_release[:2], lay.box_xy, atol=1e-9)
        bottom = cube_at_release[2] - 0.02 + P.sim_height_offset - TABLE_TOP_Z
        assert BOX_RIM_HEIGHT < bottom < BOX_RIM_HEIGHT + 0.02, bottom     # just over the rim: a short drop
    assert sides == {"left", "right"}


def test_walk_plan_brings_the_cube_within_reach_and_returns():
    for seed in range(30):
        lay = sample_layout("cube_in_box_walk", seed)
        plan = plan_demo(lay)
        walks = [s for s in plan.segments if s.walk != (0.0, 0.0)]
        assert [s.label for s in walks] == ["walk to the cube", "walk back"]
        assert np.sign(walks[0].walk[1]) == np.sign(lay.cube_xy[1]) == -np.sign(walks[1].walk[1])
        assert abs(lay.cube_xy[1] - plan.base_shift) < REACH_LIMIT_Y - 0.05     # in reach after the step
        assert abs(abs(plan.base_shift) - (abs(lay.cube_xy[1]) - P.reach_y)) < 0.01
    assert plan_demo(sample_layout("cube_in_box", 3)).base_shift == 0.0


def test_predicted_walk_follows_the_locomotion_dead_band():
    assert predict_walk(0.05, 2.0, 1.0) == 0.0                  # below the dead-band: the robot stands
    d = predict_walk(0.35, 1.0, 1.0)
    assert 0.15 < d < 0.35                                      # shrunk by the dead-band, then stops
    assert predict_walk(-0.35, 1.0, 1.0) == pytest.approx(-d)


def test_grasp_and_release_targets_are_reachable_by_the_teleop_ik(ik):
    """Converged IK on the planned palm targets (the other hand at its hanging pose) lands within 2 cm."""
    ref = ik.reference.poses
    worst = 0.0
    for task, seed in [("cube_in_box", s) for s in range(5)] + [("cube_in_box_walk", s) for s in range(2)]:
        plan = plan_demo(sample_layout(task, seed))
        other = "right" if plan.side == "left" else "left"
        for label in ("align", "descend", "align over the box", "lower"):
            seg = next(s for s in plan.segments if s.label == label)
            t = getattr(seg, f"{plan.side}_wrist")
            hang_pos, hang_rpy = hanging_palm(other)
            targets = {"head": ref["head"], f"{plan.side}_wrist": Pose(np.array(t.pos), rpy_to_mat(*t.rpy)),
                       f"{other}_wrist": Pose(hang_pos, rpy_to_mat(*hang_rpy))}
            assert set(targets) == set(IK_TARGETS)
            ik.reset()
            for _ in range(80):
                res = ik.solve(targets, 1.0 / 30.0)
            worst = max(worst, res.errors[f"{plan.side}_wrist"][0])
    assert worst < 0.02, worst


def test_episode_watch_and_session_timing(ik_model):
    w = EpisodeWatch()
    assert w.update(1000, 5.0)                  # first state: an episode
    assert not w.update(1000, 5.1)
    assert w.update(1001, 0.1)                  # seed change
    assert not w.update(1001, 2.0)
    assert w.update(1001, 0.2)                  # same seed reset
    cfg = ScriptedOperatorConfig(start_delay=1.0)
    s = DemoSession.create("cube_in_box", 7, 100.0, cfg, ik_model.reference)
    assert s.poll(100.5) == ([], []) and s.due_calls(100.5) == []
    trackers, gloves = s.poll(101.2)
    trackers2, _ = s.poll(101.7)
    assert trackers and gloves and len(trackers2) == pytest.approx(45, abs=2)   # 90 Hz
    assert s.due_calls(101.0 + s.plan.calibrate_at + 0.01) == ["calibrate"]
    assert s.due_calls(101.0 + s.plan.engage_at + 0.01) == ["engage"]
    assert s.due_calls(150.0) == []
    with pytest.raises(Exception, match="unknown task"):
        DemoSession.create("nope", 1, 0.0, cfg, ik_model.reference)


def test_hanging_palm_is_where_a_sim_reset_puts_the_hands():
    """The plan starts and ends at the reset pose; the IK frame sits sim_height_offset below the sim's world."""
    from psi0_sim.config import SimConfig
    from psi0_sim.robot import G1Sim

    sim = G1Sim(SimConfig(base_mode="fixed"))
    assert sim.stand_height - 0.75 == pytest.approx(P.sim_height_offset, abs=1e-3)
    for side in ("left", "right"):
        pos, rpy = hanging_palm(side)
        site = sim.data.site(f"{side}_palm")
        assert site.xpos - [0, 0, sim.stand_height - 0.75] == pytest.approx(pos, abs=1e-6)
        assert np.allclose(site.xmat.reshape(3, 3), rpy_to_mat(*rpy), atol=1e-6)
