"""The simulated G1, without ROS: commands in, physics step, LowState/HandState out.

Motor order is Unitree's (psi0_common.g1); actuator i of the model is body
motor i, actuators 29-35 / 36-42 are the left / right Dex3 motors. Base modes:
- `fixed`: the pelvis is welded to a fixed target at the standing height;
- `kinematic`: the weld target moves with the SimBaseCommand (vx, vy in the
  robot frame, yaw rate, height), so the base follows it ideally;
- `floating`: no weld, legs touch the floor, full physics (for AMO).
In fixed and kinematic modes the legs do not touch the floor (they follow the
pelvis instead of carrying it). Not thread-safe: `SimRuntime` serializes calls.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from psi0_common import g1
from psi0_common.unitree_codec import LowCmdData
from psi0_sim.config import SimConfig
from psi0_sim.motors import CommandRejected, MotorBank, MotorTargets, body_targets_from_lowcmd, dex3_enabled
from psi0_sim.task import TASK_CLASSES, TaskStatus

ASSETS = Path(__file__).resolve().parent / "assets"
SCENE_XML = ASSETS / "scene.xml"
SIDES = ("left", "right")
MAX_BASE_HEIGHT_RATE = 0.5  # m/s: how fast the kinematic base goes to a new commanded height
FLOOR_LEG_BIT = 2           # conaffinity bit of the floor that lets the legs touch it


@dataclass
class LowStateData:
    tick: int                 # ms
    mode_machine: int
    quaternion: np.ndarray    # w, x, y, z (pelvis IMU)
    gyroscope: np.ndarray     # rad/s, IMU frame
    accelerometer: np.ndarray  # m/s^2, IMU frame (specific force: +9.81 z at rest)
    rpy: np.ndarray
    q: np.ndarray             # (29,) motor order
    dq: np.ndarray
    ddq: np.ndarray
    tau_est: np.ndarray


@dataclass
class HandStateData:
    q: np.ndarray   # (7,)
    dq: np.ndarray
    ddq: np.ndarray
    tau_est: np.ndarray


def quat_to_rpy(q) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(min(1.0, max(-1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


def _joint_addresses(model: mujoco.MjModel, names) -> tuple[np.ndarray, np.ndarray]:
    ids = [model.joint(f"{n}_joint").id for n in names]
    return model.jnt_qposadr[ids].copy(), model.jnt_dofadr[ids].copy()


class G1Sim:
    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        path = Path(cfg.scene) if cfg.scene else SCENE_XML
        if not path.is_file():
            raise FileNotFoundError(f"sim scene {path} does not exist")
        self.model = mujoco.MjModel.from_xml_path(str(path))
        self.model.opt.timestep = cfg.dt
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.lock = threading.RLock()

        self.body_qadr, self.body_vadr = _joint_addresses(m, g1.BODY_NAMES)
        self.hand_names = {s: [f"{s}_hand_{n}" for n in g1.DEX3_NAMES] for s in SIDES}
        self.hand_adr = {s: _joint_addresses(m, self.hand_names[s]) for s in SIDES}
        self.body_act = np.array([m.actuator(n).id for n in g1.BODY_NAMES])
        self.hand_act = {s: np.array([m.actuator(n).id for n in self.hand_names[s]]) for s in SIDES}

        self._pelvis = m.body("pelvis").id
        self._base_mocap = m.body_mocapid[m.body("base_target").id]
        self._weld = m.equality("base_weld").id
        self._floor = m.geom("floor").id
        self._sensor = {n: m.sensor_adr[m.sensor(n).id] for n in ("imu_gyro", "imu_acc", "imu_quat")}

        kp, kd = g1.body_gains()
        hold = MotorTargets(q=np.array(g1.DEFAULT_BODY_POSE, float), dq=np.zeros(g1.NUM_BODY),
                            tau=np.zeros(g1.NUM_BODY), kp=kp, kd=kd, enabled=np.ones(g1.NUM_BODY, bool))
        hand_hold = MotorTargets(q=np.zeros(g1.NUM_HAND), dq=np.zeros(g1.NUM_HAND), tau=np.zeros(g1.NUM_HAND),
                                 kp=np.full(g1.NUM_HAND, g1.DEX3_KP), kd=np.full(g1.NUM_HAND, g1.DEX3_KD),
                                 enabled=np.ones(g1.NUM_HAND, bool))
        use_hold = cfg.hold_default_pose
        self.body = MotorBank("body", g1.NUM_BODY, cfg.command_timeout, cfg.limp_kd, hold if use_hold else None)
        self.hands = {s: MotorBank(f"{s}_hand", g1.NUM_HAND, cfg.command_timeout, cfg.limp_kd / 10.0,
                                   hand_hold if use_hold else None) for s in SIDES}

        self._written: dict[str, tuple] = {}   # bank name -> state key last written to the actuators
        self.task = TASK_CLASSES[cfg.task](m)
        self.stand_height = self._stand_height()
        self.base_mode = cfg.base_mode
        self._base_cmd = np.zeros(3)        # vx, vy, yaw rate
        self._base_cmd_time = -np.inf
        self._height_target = 0.0
        self._yaw = 0.0
        self.seed = cfg.seed
        self.reset(cfg.seed)

    # ----------------------------------------------------------------- set-up
    def _stand_height(self) -> float:
        """Pelvis height at which the soles of DEFAULT_BODY_POSE touch the floor."""
        d = mujoco.MjData(self.model)
        d.qpos[self.body_qadr] = g1.DEFAULT_BODY_POSE
        d.qpos[2] = 0.0
        mujoco.mj_kinematics(self.model, d)
        return float(-min(d.site("left_sole").xpos[2], d.site("right_sole").xpos[2]))

    def reset(self, seed: int | None = None, task: str | None = None) -> int:
        """New episode: default pose, base at its start, objects at seeded random poses."""
        if task and task != self.task.name:
            if task not in TASK_CLASSES:
                raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_CLASSES)}")
            self.task = TASK_CLASSES[task](self.model)
        if seed is None or seed < 0:
            seed = self.seed + 1
        self.seed = int(seed)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.ctrl[:] = 1.0
        height = self.cfg.base_height or self.stand_height
        d.qpos[0:3] = (0.0, 0.0, height)
        d.qpos[3:7] = (1.0, 0.0, 0.0, 0.0)
        d.qpos[self.body_qadr] = g1.DEFAULT_BODY_POSE
        d.mocap_pos[self._base_mocap] = (0.0, 0.0, height)
        d.mocap_quat[self._base_mocap] = (1.0, 0.0, 0.0, 0.0)
        self._height_target = height
        self._yaw = 0.0
        self._base_cmd[:] = 0.0
        self._base_cmd_time = -np.inf
        for bank in (self.body, *self.hands.values()):
            bank.reset()
        self._written.clear()
        self.set_base_mode(self.base_mode)
        self.task.reset(d, self.seed)
        mujoco.mj_forward(m, d)
        return self.seed

    def set_base_mode(self, mode: str) -> None:
        if mode not in ("fixed", "kinematic", "floating"):
            raise ValueError(f"unknown base mode {mode!r}")
        self.base_mode = mode
        floating = mode == "floating"
        self.data.eq_active[self._weld] = 0 if floating else 1
        aff = int(self.model.geom_conaffinity[self._floor])
        self.model.geom_conaffinity[self._floor] = (aff | FLOOR_LEG_BIT) if floating else (aff & ~FLOOR_LEG_BIT)

    # --------------------------------------------------------------- commands
    def apply_lowcmd(self, cmd: LowCmdData) -> bool:
        """Take a LowCmd if valid; a rejected one is counted and changes nothing."""
        try:
            targets = body_targets_from_lowcmd(cmd, g1.NUM_BODY)
        except CommandRejected as exc:
            self.body.reject(exc.reason)
            return False
        self.body.command(targets, self.data.time)
        return True

    def apply_hand_cmd(self, side: str, q, dq, tau, kp, kd, mode) -> bool:
        if side not in self.hands:
            raise ValueError(f"unknown hand {side!r}")
        bank = self.hands[side]
        try:
            arrays = [np.asarray(a, float) for a in (q, dq, tau, kp, kd)]
            if any(a.shape != (g1.NUM_HAND,) for a in arrays) or np.asarray(mode).shape != (g1.NUM_HAND,):
                raise CommandRejected("size", f"HandCmd needs {g1.NUM_HAND} motors")
            bank.command(MotorTargets(*arrays, enabled=dex3_enabled(mode)), self.data.time)
        except CommandRejected as exc:
            bank.reject(exc.reason)
            return False
        return True

    def apply_base_command(self, vx: float, vy: float, yaw_rate: float, height: float) -> bool:
        vals = np.array([vx, vy, yaw_rate, height], float)
        if not np.isfinite(vals).all():
            return False
        self._base_cmd[:] = vals[:3]
        self._base_cmd_time = self.data.time
        if height > 0.0:
            self._height_target = float(np.clip(height, 0.3, 1.2))
        return True

    # ---------------------------------------------------------------- physics
    def _write_actuators(self) -> None:
        """Write each bank's PD terms into its actuators, only when they changed."""
        m, now = self.model, self.data.time
        for bank, act in ((self.body, self.body_act), *((self.hands[s], self.hand_act[s]) for s in SIDES)):
            key = bank.state_key(now)
            if self._written.get(bank.name) == key:
                continue
            gain, b1, b2 = bank.actuator_terms(now)
            m.actuator_gainprm[act, 0] = gain
            m.actuator_biasprm[act, 1] = b1
            m.actuator_biasprm[act, 2] = b2
            self._written[bank.name] = key

    def _move_base(self, dt: float) -> None:
        if self.base_mode != "kinematic":
            return
        d = self.data
        fresh = d.time - self._base_cmd_time <= self.cfg.base_command_timeout
        vx, vy, wz = (float(v) for v in self._base_cmd) if fresh else (0.0, 0.0, 0.0)
        x, y, z = (float(v) for v in d.mocap_pos[self._base_mocap])
        c, s = math.cos(self._yaw), math.sin(self._yaw)
        step = MAX_BASE_HEIGHT_RATE * dt
        z += min(step, max(-step, self._height_target - z))
        d.mocap_pos[self._base_mocap] = (x + (c * vx - s * vy) * dt, y + (s * vx + c * vy) * dt, z)
        if wz != 0.0:
            self._yaw += wz * dt
            d.mocap_quat[self._base_mocap] = (math.cos(self._yaw / 2), 0.0, 0.0, math.sin(self._yaw / 2))

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._write_actuators()
            self._move_base(self.model.opt.timestep)
            mujoco.mj_step(self.model, self.data)

    # ----------------------------------------------------------------- states
    def lowstate(self) -> LowStateData:
        d = self.data
        sd = d.sensordata
        quat = sd[self._sensor["imu_quat"]:self._sensor["imu_quat"] + 4].copy()
        return LowStateData(
            tick=int(round(d.time * 1000.0)) & 0xFFFFFFFF, mode_machine=self.cfg.mode_machine,
            quaternion=quat, gyroscope=sd[self._sensor["imu_gyro"]:self._sensor["imu_gyro"] + 3].copy(),
            accelerometer=sd[self._sensor["imu_acc"]:self._sensor["imu_acc"] + 3].copy(), rpy=quat_to_rpy(quat),
            q=d.qpos[self.body_qadr].copy(), dq=d.qvel[self.body_vadr].copy(), ddq=d.qacc[self.body_vadr].copy(),
            tau_est=d.actuator_force[self.body_act].copy())

    def hand_state(self, side: str) -> HandStateData:
        d = self.data
        qa, va = self.hand_adr[side]
        return HandStateData(q=d.qpos[qa].copy(), dq=d.qvel[va].copy(), ddq=d.qacc[va].copy(),
                             tau_est=d.actuator_force[self.hand_act[side]].copy())

    def task_status(self) -> TaskStatus:
        return self.task.evaluate(self.data)

    def base_pose(self) -> tuple[np.ndarray, float]:
        """Pelvis position (world) and yaw."""
        d = self.data
        return d.qpos[0:3].copy(), float(quat_to_rpy(d.qpos[3:7])[2])

    def counters(self) -> dict[str, int]:
        out = {"lowcmd_accepted": self.body.accepted}
        out.update({f"lowcmd_rejected_{k}": v for k, v in self.body.rejected.items()})
        for s, bank in self.hands.items():
            out[f"{s}_hand_accepted"] = bank.accepted
            out.update({f"{s}_hand_rejected_{k}": v for k, v in bank.rejected.items()})
        return out

    def snapshot(self) -> dict[str, np.ndarray]:
        """What the renderer needs to draw the current instant."""
        d = self.data
        return {"qpos": d.qpos.copy(), "mocap_pos": d.mocap_pos.copy(), "mocap_quat": d.mocap_quat.copy(),
                "time": np.array(d.time)}
