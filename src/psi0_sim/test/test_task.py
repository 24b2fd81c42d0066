"""The task detector: fires on a scripted success, not on failures; seeded scene randomization."""
import mujoco
import numpy as np
import pytest

from psi0_sim.config import SimConfig
from psi0_sim.robot import G1Sim
from psi0_sim.task import BOX_REGION, CUBE_REGION, MIN_SEPARATION, TABLE_TOP_Z


@pytest.fixture(scope="module")
def sim():
    return G1Sim(SimConfig(base_mode="fixed"))


def drop_cube(sim, offset_in_box, height=0.12, seconds=0.8):
    sim.reset(7)
    box, yaw = sim.task.box_pose(sim.data)
    c, s = np.cos(yaw), np.sin(yaw)
    xy = box[:2] + np.array([c * offset_in_box[0] - s * offset_in_box[1], s * offset_in_box[0] + c * offset_in_box[1]])
    sim.task.place(sim.data, xy, 0.3, box[:2], yaw, cube_z=TABLE_TOP_Z + height)
    mujoco.mj_forward(sim.model, sim.data)
    assert not sim.task_status().success          # in the air above the box is not success
    sim.step(int(seconds / sim.model.opt.timestep))
    return sim.task_status()


def test_scripted_success_cube_dropped_into_box(sim):
    status = drop_cube(sim, (0.0, 0.0))
    assert status.success and status.predicates["cube_in_box"]
    assert status.task == "cube_in_box" and status.seed == 7
    assert not status.predicates["cube_lifted"]


@pytest.mark.parametrize("offset", [(0.16, 0.0), (0.0, -0.18)])
def test_cube_dropped_beside_the_box_is_not_success(sim, offset):
    status = drop_cube(sim, offset)
    assert not status.success and not status.predicates["cube_in_box"]


def test_cube_resting_on_the_rim_is_not_success(sim):
    status = drop_cube(sim, (0.07, 0.0), height=0.054 + 0.02, seconds=0.0)   # sitting on the wall top
    assert not status.success
    box, yaw = sim.task.box_pose(sim.data)                                     # inside, on the box floor
    sim.task.place(sim.data, box[:2], 0.0, box[:2], yaw, cube_z=TABLE_TOP_Z + 0.006 + 0.02)
    mujoco.mj_forward(sim.model, sim.data)
    assert sim.task_status().success


def test_initial_scene_is_not_success_and_nothing_touches(sim):
    for seed in range(5):
        sim.reset(seed)
        sim.step(50)
        st = sim.task_status()
        assert not st.success
        assert st.predicates == {"cube_in_box": False, "hand_touching_object": False, "cube_lifted": False}


def test_hand_touching_object(sim):
    sim.reset(1)
    d = sim.data
    palm = d.geom("left_palm_geom")
    normal = palm.xmat.reshape(3, 3)[:, 1]               # left palm faces its -y side
    centre = palm.xpos - normal * (0.017 + 0.02 - 0.002)  # cube pressed 2 mm into the palm face
    sim.task.place(d, centre[:2], 0.0, *sim.task.box_pose(d), cube_z=centre[2])
    mujoco.mj_forward(sim.model, d)
    assert sim.task_status().predicates["hand_touching_object"]
    sim.task.place(d, centre[:2] - 0.2 * normal[:2], 0.0, *sim.task.box_pose(d), cube_z=centre[2])
    mujoco.mj_forward(sim.model, d)
    assert not sim.task_status().predicates["hand_touching_object"]


def test_randomization_stays_in_its_regions(sim):
    for seed in range(20):
        sim.reset(seed)
        cube = sim.task.cube_position(sim.data)
        box, _ = sim.task.box_pose(sim.data)
        assert CUBE_REGION[0][0] <= cube[0] <= CUBE_REGION[0][1] and CUBE_REGION[1][0] <= cube[1] <= CUBE_REGION[1][1]
        assert BOX_REGION[0][0] <= box[0] <= BOX_REGION[0][1] and BOX_REGION[1][0] <= box[1] <= BOX_REGION[1][1]
        assert np.linalg.norm(cube[:2] - box[:2]) >= MIN_SEPARATION


@pytest.mark.parametrize("close", [True, False])
def test_closed_dex3_hand_holds_the_cube_against_gravity(close):
    """Collision geometry good enough to grasp: the closed hand holds the cube, the open one drops it."""
    from psi0_common import g1
    from psi0_common.unitree_codec import LowCmdData, MotorCommands, with_crc

    sim = G1Sim(SimConfig(base_mode="fixed"))
    m, d = sim.model, sim.data
    mc = MotorCommands()
    kp, kd = g1.body_gains()
    mc.mode[:29], mc.q[:29], mc.kp[:29], mc.kd[:29] = 1, g1.DEFAULT_BODY_POSE, kp, kd
    cmd = with_crc(LowCmdData(motors=mc))
    wrist = d.body("left_wrist_yaw_link")
    grip = np.array([0.0, -0.5, 1.5, -1.4, -1.5, -1.4, -1.5]) if close else np.zeros(7)
    gravity = m.opt.gravity.copy()
    m.opt.gravity[:] = 0.0                       # place the cube in the open hand, close, then let go
    try:
        for k in range(400):
            if k == 50:
                p = wrist.xpos + wrist.xmat.reshape(3, 3) @ np.array([0.12, -0.04, 0.0])
                sim.task.place(d, p[:2], 0.0, *sim.task.box_pose(d), cube_z=p[2])
            if k == 200:
                m.opt.gravity[:] = gravity
            sim.apply_hand_cmd("left", grip * min(1.0, k / 100), np.zeros(7), np.zeros(7), np.full(7, g1.DEX3_KP),
                               np.full(7, g1.DEX3_KD), np.full(7, 0x10))
            sim.apply_lowcmd(cmd)
            sim.step(5)
    finally:
        m.opt.gravity[:] = gravity
    local = wrist.xmat.reshape(3, 3).T @ (sim.task.cube_position(d) - wrist.xpos)
    held = np.linalg.norm(local - (0.09, -0.04, 0.0)) < 0.04
    assert held == close, local
    assert sim.task_status().predicates["hand_touching_object"] == close


# ---- seeded layouts and the loco-manipulation variant ------------------------------------------------------------
from psi0_sim.layout import (CUBE_YAW_RANGE, HAND_BAND, REACH_LIMIT_Y, TASK_NAMES, carrying_hand,  # noqa: E402
                             one_hand_reaches, sample_layout)


def test_table_layouts_keep_cube_and_box_on_one_hands_side():
    hands = set()
    for seed in range(300):
        lay = sample_layout("cube_in_box", seed)
        ys = (lay.cube_xy[1], lay.box_xy[1])
        assert one_hand_reaches(*ys)
        hand = carrying_hand(lay)
        hands.add(hand)
        assert min(ys) >= -HAND_BAND if hand == "left" else max(ys) <= HAND_BAND
    assert hands == {"left", "right"}
    assert not one_hand_reaches(0.2, -0.2) and not one_hand_reaches(0.2, -0.04)
    assert one_hand_reaches(0.2, -HAND_BAND) and one_hand_reaches(-0.2, HAND_BAND)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_sample_layout_is_what_reset_builds(sim, task):
    for seed in (0, 5, 123):
        lay = sample_layout(task, seed)
        assert lay == sample_layout(task, seed)            # pure: same seed, same scene
        sim.reset(seed, task)
        cube = sim.task.cube_position(sim.data)
        box, box_yaw = sim.task.box_pose(sim.data)
        assert np.allclose(cube[:2], lay.cube_xy) and np.allclose(box[:2], lay.box_xy)
        assert abs(box_yaw - lay.box_yaw) < 1e-9 and abs(lay.cube_yaw) <= CUBE_YAW_RANGE
    sim.reset(0, "cube_in_box")
    with pytest.raises(ValueError, match="unknown task"):
        sample_layout("no_such_task", 0)


def test_walk_layout_puts_the_cube_out_of_reach_and_the_box_near_the_middle():
    sides = set()
    for seed in range(200):
        lay = sample_layout("cube_in_box_walk", seed)
        assert abs(lay.cube_xy[1]) > REACH_LIMIT_Y and abs(lay.box_xy[1]) <= 0.10
        assert np.hypot(lay.cube_xy[0] - lay.box_xy[0], lay.cube_xy[1] - lay.box_xy[1]) > MIN_SEPARATION
        sides.add(lay.cube_side)
    assert sides == {"left", "right"}


def test_walk_variant_success_fires_on_a_scripted_drop_and_base_moved_latches(sim):
    sim.reset(11, "cube_in_box_walk")
    st = sim.task_status()
    assert st.task == "cube_in_box_walk" and st.instruction != "Put the red cube in the box."
    assert not st.success and st.predicates["base_moved"] is False
    sim.data.mocap_pos[sim._base_mocap][1] += 0.15                   # the base side-steps 15 cm
    sim.step(50)
    assert sim.task_status().predicates["base_moved"]
    sim.data.mocap_pos[sim._base_mocap][1] -= 0.15                   # and comes back: still latched
    sim.step(50)
    assert sim.task_status().predicates["base_moved"]
    box, yaw = sim.task.box_pose(sim.data)
    sim.task.place(sim.data, box[:2], 0.2, box[:2], yaw, cube_z=TABLE_TOP_Z + 0.12)
    mujoco.mj_forward(sim.model, sim.data)
    assert not sim.task_status().success                             # above the box is not in it
    sim.step(400)
    assert sim.task_status().success
    sim.reset(11, "cube_in_box_walk")                                # a reset clears the latch
    assert not sim.task_status().predicates["base_moved"]
    sim.reset(0, "cube_in_box")


def test_walk_variant_cube_left_at_the_table_end_is_not_success(sim):
    sim.reset(12, "cube_in_box_walk")
    sim.step(400)
    st = sim.task_status()
    assert not st.success and not st.predicates["cube_in_box"]
    box, yaw = sim.task.box_pose(sim.data)
    sim.task.place(sim.data, box[:2] + np.array([0.0, 0.16]), 0.0, box[:2], yaw, cube_z=TABLE_TOP_Z + 0.1)
    sim.step(400)                                                    # dropped beside the box
    assert not sim.task_status().success
    sim.reset(0, "cube_in_box")


def test_near_layout_stays_in_its_small_regions_on_the_right():
    from psi0_sim.layout import NEAR_BOX_REGION, NEAR_CUBE_REGION, NEAR_YAW_RANGE

    cubes = []
    for seed in range(200):
        lay = sample_layout("cube_in_box_near", seed)
        for (x, y), ((x0, x1), (y0, y1)) in ((lay.cube_xy, NEAR_CUBE_REGION), (lay.box_xy, NEAR_BOX_REGION)):
            assert x0 <= x <= x1 and y0 <= y <= y1
        assert abs(lay.cube_yaw) <= NEAR_YAW_RANGE and abs(lay.box_yaw) <= NEAR_YAW_RANGE
        assert carrying_hand(lay) == "right"
        # the cube clears the box's rim (inner half 6.5 cm + wall + cube half) wherever both land
        assert np.hypot(lay.cube_xy[0] - lay.box_xy[0], lay.cube_xy[1] - lay.box_xy[1]) > 0.12
        cubes.append(lay.cube_xy)
    assert np.ptp(np.array(cubes), axis=0).min() > 0.03       # it still varies with the seed
