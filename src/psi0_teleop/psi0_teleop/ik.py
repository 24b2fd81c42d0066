"""Multi-target differential IK on the psi0 G1 model (pinocchio + pink, QP solved by daqp).

Model: the simulator's MJCF (psi0_sim/assets/g1.xml) parsed by pinocchio; the
floating base, the legs and the Dex3 fingers are locked, and the pelvis sits
on a virtual prismatic joint `pelvis_height_joint` (z) above the IK base frame
(the floor under the pelvis, x forward). Free variables (18): pelvis height,
the three waist joints (yaw, roll, pitch: the torso orientation the action
carries as torso roll/pitch/yaw) and the 14 arm joints.

Targets: the `head` site and the `left_palm` / `right_palm` sites. Costs follow
Psi0's teleop IK (head weight 2.5, palms 1.0; position 1.0, orientation 0.5),
plus a posture task towards the reference posture (0.02, as xr_teleoperate)
and Levenberg-Marquardt damping on each frame task, so unreachable targets
give the closest feasible pose instead of large steps. Joint position limits
and per-joint velocity limits are QP constraints, so one solve never moves a
joint by more than `max_velocity * dt`: no jumps, whatever the target does.
Each solve starts from the previous solution (warm start). If the QP fails
the solver keeps the previous solution and reports the failure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from psi0_common import g1
from psi0_teleop.calibration import IK_TARGETS, RobotReference
from psi0_teleop.geometry import Pose, rotation_angle

HEIGHT_JOINT = "pelvis_height_joint"
WAIST_JOINTS = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
ARM_JOINTS = tuple(f"{j.name}_joint" for j in g1.BODY_JOINTS[g1.LEFT_ARM] + g1.BODY_JOINTS[g1.RIGHT_ARM])
FRAMES = {"head": "head", "left_wrist": "left_palm", "right_wrist": "right_palm"}


def default_model_path() -> Path:
    """The simulator's G1 MJCF: the same file the sim runs."""
    try:
        import psi0_sim

        p = Path(psi0_sim.__file__).resolve().parent / "assets" / "g1.xml"
    except ImportError:
        p = Path(__file__).resolve().parents[2] / "psi0_sim" / "psi0_sim" / "assets" / "g1.xml"
    return p


@dataclass(frozen=True)
class IKParams:
    model_path: str = ""                      # MJCF; empty = psi0_sim's g1.xml
    head_weight: float = 2.5
    hand_weight: float = 1.0
    position_cost: float = 1.0
    orientation_cost: float = 0.5
    posture_cost: float = 0.02
    lm_damping: float = 1e-2                  # Levenberg-Marquardt damping of the frame tasks
    damping: float = 1e-4                     # QP regularization (smoothness)
    height_range: tuple[float, float] = (0.50, 0.80)  # m, pelvis height
    torso_yaw_limit: float = 1.57             # rad, |waist yaw|
    max_arm_velocity: float = 4.0             # rad/s
    max_waist_velocity: float = 1.5           # rad/s
    max_height_velocity: float = 0.4          # m/s
    reference_arms: tuple = field(default_factory=lambda: tuple([0.0] * 14))  # reference posture, arm joints
    reference_height: float = g1.NOMINAL_PELVIS_HEIGHT


@dataclass(frozen=True)
class IKResult:
    ok: bool
    arms: np.ndarray           # 14, g1 arm order (left then right)
    torso_rpy: np.ndarray      # roll, pitch, yaw = waist roll, pitch, yaw joints
    height: float
    q: np.ndarray              # full IK configuration
    solve_time: float          # s
    errors: dict[str, tuple[float, float]]  # target -> (position m, orientation rad) after the solve
    message: str = ""


class WholeBodyIK:
    def __init__(self, params: IKParams = IKParams()):
        import pinocchio as pin
        import pink
        from pink.limits import ConfigurationLimit, VelocityLimit
        from pink.tasks import FrameTask, PostureTask

        self.pin, self.pink = pin, pink
        self.p = params
        path = Path(params.model_path) if params.model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"G1 model {path} not found (set model_path, or build psi0_sim)")
        self.model_path = path
        self.model = self._build_model(pin, path)
        self.data = self.model.createData()
        self.names = [self.model.names[i] for i in range(1, self.model.njoints)]
        idx = {n: self.model.joints[self.model.getJointId(n)].idx_q for n in self.names}
        self.i_height = idx[HEIGHT_JOINT]
        self.i_waist = np.array([idx[n] for n in WAIST_JOINTS])       # yaw, roll, pitch
        self.i_arms = np.array([idx[n] for n in ARM_JOINTS])
        self.q_ref = pin.neutral(self.model)
        self.q_ref[self.i_height] = params.reference_height
        self.q_ref[self.i_arms] = np.asarray(params.reference_arms, float)
        self.q_ref = np.clip(self.q_ref, self.model.lowerPositionLimit, self.model.upperPositionLimit)
        vmax = np.zeros(self.model.nv)
        vmax[self.i_arms] = params.max_arm_velocity
        vmax[self.i_waist] = params.max_waist_velocity
        vmax[self.i_height] = params.max_height_velocity
        self.model.velocityLimit = vmax
        self.limits = [ConfigurationLimit(self.model), VelocityLimit(self.model)]
        self.tasks = {}
        for name, frame in FRAMES.items():
            w = params.head_weight if name == "head" else params.hand_weight
            self.tasks[name] = FrameTask(frame, position_cost=w * params.position_cost,
                                         orientation_cost=w * params.orientation_cost, lm_damping=params.lm_damping)
        self.posture = PostureTask(cost=params.posture_cost)
        self.posture.set_target(self.q_ref)
        self.q = self.q_ref.copy()
        self.configuration = pink.Configuration(self.model, self.data, self.q)
        self.frame_ids = {n: self.model.getFrameId(f) for n, f in FRAMES.items()}
        self.reference = self.frames_at(self.q_ref)
        for name, task in self.tasks.items():
            task.set_target(self._se3(self.reference.poses[name]))
        self.failures = 0

    def _build_model(self, pin, path: Path):
        full = pin.buildModelFromMJCF(str(path))
        keep = set(WAIST_JOINTS) | set(ARM_JOINTS)
        missing = keep - set(full.names)
        if missing:
            raise ValueError(f"{path}: joints missing for IK: {sorted(missing)}")
        for f in FRAMES.values():
            if not full.existFrame(f):
                raise ValueError(f"{path}: frame (site/body) {f!r} missing for IK")
        lock = [i for i in range(1, full.njoints) if full.names[i] not in keep]
        q0 = pin.neutral(full)
        reduced = pin.buildReducedModel(full, lock, q0)
        p = self.p
        base = pin.Model()
        jid = base.addJoint(0, pin.JointModelPZ(), pin.SE3.Identity(), HEIGHT_JOINT, np.array([1000.0]),
                            np.array([p.max_height_velocity]), np.array([p.height_range[0]]),
                            np.array([p.height_range[1]]))
        base.appendBodyToJoint(jid, pin.Inertia.Zero(), pin.SE3.Identity())
        fid = base.addFrame(pin.Frame("pelvis_mount", jid, 0, pin.SE3.Identity(), pin.FrameType.OP_FRAME))
        model = pin.appendModel(base, reduced, fid, pin.SE3.Identity())
        lo, hi = model.lowerPositionLimit.copy(), model.upperPositionLimit.copy()
        iy = model.joints[model.getJointId("waist_yaw_joint")].idx_q
        lo[iy], hi[iy] = max(lo[iy], -p.torso_yaw_limit), min(hi[iy], p.torso_yaw_limit)
        model.lowerPositionLimit, model.upperPositionLimit = lo, hi
        return model

    # -- helpers ------------------------------------------------------------------
    def _se3(self, pose: Pose):
        return self.pin.SE3(np.asarray(pose.rot, float), np.asarray(pose.pos, float))

    def frames_at(self, q: np.ndarray) -> RobotReference:
        data = self.model.createData()
        self.pin.framesForwardKinematics(self.model, data, q)
        poses = {}
        for name, frame in FRAMES.items():
            m = data.oMf[self.model.getFrameId(frame)]
            poses[name] = Pose(m.translation.copy(), m.rotation.copy())
        return RobotReference(poses)

    def configuration_from(self, arms=None, torso_rpy=None, height=None) -> np.ndarray:
        q = self.q_ref.copy()
        if arms is not None:
            q[self.i_arms] = arms
        if torso_rpy is not None:
            r, pch, y = torso_rpy
            q[self.i_waist] = (y, r, pch)
        if height is not None:
            q[self.i_height] = height
        return np.clip(q, self.model.lowerPositionLimit, self.model.upperPositionLimit)

    def reset(self, q: np.ndarray | None = None) -> None:
        """Warm start from q (e.g. the robot's measured joints) or the reference posture."""
        self.q = (self.q_ref if q is None else np.clip(np.asarray(q, float), self.model.lowerPositionLimit,
                                                       self.model.upperPositionLimit)).copy()
        self.configuration = self.pink.Configuration(self.model, self.data, self.q)

    def result(self, ok: bool, t: float, message: str = "") -> IKResult:
        errors = {}
        for name, fid in self.frame_ids.items():
            cur = self.configuration.data.oMf[fid]
            tgt = self.tasks[name].transform_target_to_world
            if tgt is None:
                continue
            errors[name] = (float(np.linalg.norm(cur.translation - tgt.translation)),
                            rotation_angle(cur.rotation.T @ tgt.rotation))
        w = self.q[self.i_waist]
        return IKResult(ok, self.q[self.i_arms].copy(), np.array([w[1], w[2], w[0]]), float(self.q[self.i_height]),
                        self.q.copy(), t, errors, message)

    # -- solving ------------------------------------------------------------------
    def solve(self, targets: dict[str, Pose | None], dt: float, iterations: int = 1) -> IKResult:
        """Move the solution towards the targets for `iterations` steps of `dt` seconds each.

        A target that is None keeps its previous value. On a QP failure the
        previous solution is kept and `ok` is False.
        """
        t0 = time.perf_counter()
        if dt <= 0 or not np.isfinite(dt):
            raise ValueError(f"IK dt must be > 0, got {dt}")
        for name, pose in targets.items():
            if pose is None:
                continue
            if name not in self.tasks:
                raise ValueError(f"unknown IK target {name!r}; known: {list(self.tasks)}")
            if not pose.is_finite():
                return self.result(False, time.perf_counter() - t0, f"non-finite target {name}")
            self.tasks[name].set_target(self._se3(pose))
        tasks = list(self.tasks.values()) + [self.posture]
        q_prev = self.q.copy()
        try:
            for _ in range(iterations):
                v = self.pink.solve_ik(self.configuration, tasks, dt, solver="daqp", damping=self.p.damping,
                                       limits=self.limits, safety_break=False)
                if not np.all(np.isfinite(v)):
                    raise RuntimeError("QP returned non-finite velocities")
                self.configuration.integrate_inplace(v, dt)
                self.q = self.configuration.q
        except Exception as exc:  # pink raises its own NoSolutionFound and solver errors
            self.failures += 1
            self.q = q_prev
            self.configuration = self.pink.Configuration(self.model, self.data, self.q)
            return self.result(False, time.perf_counter() - t0, f"IK failed, holding: {exc}")
        self.q = np.clip(self.q, self.model.lowerPositionLimit, self.model.upperPositionLimit)
        return self.result(True, time.perf_counter() - t0)

    @property
    def target_names(self) -> tuple[str, ...]:
        return IK_TARGETS
