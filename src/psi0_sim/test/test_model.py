"""The MJCF matches the interface facts in psi0_common.g1 and stays loadable as a plain model."""
import math
import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from psi0_common import g1
from psi0_sim import model_gen
from psi0_sim.robot import SCENE_XML


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_path(str(model_gen.G1_XML))


def test_committed_xml_is_what_the_generator_writes():
    assert model_gen.G1_XML.read_text() == model_gen.build_g1_xml(), "run `python -m psi0_sim.model_gen`"


def test_body_joints_in_motor_order_with_limits(model):
    hinge = [model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    body = [n for n in hinge if "_hand_" not in n]
    assert body == [f"{n}_joint" for n in g1.BODY_NAMES]
    for j in g1.BODY_JOINTS:
        jid = model.joint(f"{j.name}_joint").id
        assert model.jnt_limited[jid]
        np.testing.assert_allclose(model.jnt_range[jid], (j.lower, j.upper), atol=1e-5, err_msg=j.name)


def test_actuator_i_is_motor_i_with_its_torque_limit(model):
    assert model.nu == g1.NUM_BODY + 2 * g1.NUM_HAND
    for i, j in enumerate(g1.BODY_JOINTS):
        assert model.actuator(i).name == j.name
        assert model.joint(model.actuator_trnid[i, 0]).name == f"{j.name}_joint"
        np.testing.assert_allclose(model.actuator_forcerange[i], (-j.torque, j.torque))
        assert model.actuator_forcelimited[i]


@pytest.mark.parametrize("side", ["left", "right"])
def test_dex3_joints_order_and_limits(model, side):
    limits = g1.DEX3_LEFT_LIMITS if side == "left" else g1.DEX3_RIGHT_LIMITS
    base = g1.NUM_BODY + (0 if side == "left" else g1.NUM_HAND)
    for k, name in enumerate(g1.DEX3_NAMES):
        jid = model.joint(f"{side}_hand_{name}_joint").id
        np.testing.assert_allclose(model.jnt_range[jid], limits[k], atol=1e-5)
        assert model.actuator(base + k).name == f"{side}_hand_{name}"


def test_axes_follow_the_joint_names(model):
    expected = {"pitch": (0, 1, 0), "roll": (1, 0, 0), "yaw": (0, 0, 1), "knee": (0, 1, 0), "elbow": (0, 1, 0)}
    for j in g1.BODY_JOINTS:
        key = next(k for k in expected if k in j.name)
        np.testing.assert_allclose(model.jnt_axis[model.joint(f"{j.name}_joint").id], expected[key], err_msg=j.name)


def test_mass_and_frames(model):
    total = model.body_subtreemass[model.body("pelvis").id]
    assert 30.0 < total < 40.0
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    for side in ("left", "right"):
        wrist = d.xpos[model.body(f"{side}_wrist_yaw_link").id]
        xmat = d.xmat[model.body(f"{side}_wrist_yaw_link").id].reshape(3, 3)
        palm = d.site(f"{side}_palm").xpos
        np.testing.assert_allclose(palm - wrist, xmat[:, 0] * 0.05, atol=1e-9)
    for name in ("pelvis", "torso_link", "head_link", "d435_link"):
        model.body(name)
    model.site("head")


def test_head_camera_pose_and_fov(model):
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    mujoco.mj_camlight(model, d)
    cam = model.camera("head_camera").id
    assert math.isclose(model.cam_fovy[cam], 42.5)
    view = -d.cam_xmat[cam].reshape(3, 3)[:, 2]       # MuJoCo cameras look along -z
    down = math.degrees(math.asin(-view[2]))
    assert abs(down - 47.6) < 0.2                      # d435_joint pitch 0.8308 rad
    torso = d.xpos[model.body("torso_link").id]
    np.testing.assert_allclose(d.cam_xpos[cam] - torso, (0.0576235, 0.01753, 0.42987), atol=1e-6)


def test_model_is_plain_mjcf():
    root = ET.parse(model_gen.G1_XML).getroot()
    assert root.tag == "mujoco" and root.find("worldbody/body").get("name") == "pelvis"
    scene = mujoco.MjModel.from_xml_path(str(SCENE_XML))
    for name in ("cube", "box", "table", "base_target"):
        scene.body(name)


def test_pinocchio_reads_the_same_frames(model):
    pin = pytest.importorskip("pinocchio")
    pm = pin.buildModelFromMJCF(str(model_gen.G1_XML))
    assert pm.nq == model.nq and pm.nv == model.nv
    pd = pm.createData()
    q = pin.neutral(pm)
    q[2] = 0.78                                   # pinocchio's neutral is the origin; MuJoCo's qpos0 is the body pos
    d = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    for j in g1.BODY_JOINTS:
        value = rng.uniform(j.lower, j.upper) * 0.5
        d.qpos[model.jnt_qposadr[model.joint(f"{j.name}_joint").id]] = value
        q[pm.joints[pm.getJointId(f"{j.name}_joint")].idx_q] = value
    mujoco.mj_kinematics(model, d)
    pin.framesForwardKinematics(pm, pd, q)
    for site in ("left_palm", "right_palm", "head"):
        np.testing.assert_allclose(pd.oMf[pm.getFrameId(site)].translation, d.site(site).xpos, atol=1e-6)
