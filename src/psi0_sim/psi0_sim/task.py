"""Scene randomization and the task-state detector, without ROS.

`cube_in_box`: a 4 cm red cube and an open 13 x 13 cm box stand on the table
at seeded random places; success is the cube resting inside the box.
Predicates, evaluated from the MuJoCo state:
- `cube_in_box`: the cube's centre is inside the box's inner footprint and
  below the rim (the success condition);
- `hand_touching_object`: a Dex3 finger or palm geom touches the cube;
- `cube_lifted`: the cube's bottom is more than 3 cm above the table top.

`cube_in_box_walk` (loco-manipulation): the cube lies at a far end of the
table, out of arm reach from the start pose, so the robot must move its base
sideways to pick it up; success is again the cube resting in the box. It adds
the predicate `base_moved` (latched: the pelvis has been more than 10 cm from
its start position during the episode).

`cube_in_box_near`: `cube_in_box` with narrow object regions (the end-to-end
demo's task, psi0_sim.layout).

Object placement is `psi0_sim.layout.sample_layout(task, seed)`, a pure function
of the seed, so a scripted demonstrator plans from the seed alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from psi0_sim.layout import (BOX_INNER_HALF, BOX_REGION, BOX_RIM_HEIGHT, CUBE_HALF, CUBE_REGION,  # noqa: F401
                             MIN_SEPARATION, TABLE_TOP_Z, Layout, sample_layout)

BASE_MOVED = 0.10  # m: pelvis distance from its start that counts as having moved the base


@dataclass
class TaskStatus:
    task: str
    instruction: str
    seed: int
    success: bool
    predicates: dict[str, bool] = field(default_factory=dict)
    elapsed: float = 0.0


class CubeInBoxTask:
    name = "cube_in_box"
    instruction = "Put the red cube in the box."

    def __init__(self, model: mujoco.MjModel):
        self.model = model
        self._cube_qpos = model.jnt_qposadr[model.joint("cube_joint").id]
        self._cube_dof = model.jnt_dofadr[model.joint("cube_joint").id]
        self._cube_body = model.body("cube").id
        self._box_mocap = model.body_mocapid[model.body("box").id]
        self._cube_geom = model.geom("cube_geom").id
        hand_bodies = {b for b in range(model.nbody)
                       if "_hand_" in model.body(b).name or model.body(b).name.endswith("wrist_yaw_link")}
        self._hand_geoms = {g for g in range(model.ngeom)
                            if model.geom_bodyid[g] in hand_bodies and model.geom_contype[g] != 0}
        self.seed = 0
        self._t0 = 0.0

    def reset(self, data: mujoco.MjData, seed: int) -> None:
        """Place the cube and the box at the seeded poses of `sample_layout(self.name, seed)`."""
        self.seed = seed
        self.layout: Layout = sample_layout(self.name, seed)
        lay = self.layout
        self.place(data, lay.cube_xy, lay.cube_yaw, lay.box_xy, lay.box_yaw)
        self._t0 = data.time

    def place(self, data: mujoco.MjData, cube_xy, cube_yaw: float, box_xy, box_yaw: float,
              cube_z: float = TABLE_TOP_Z + CUBE_HALF) -> None:
        a = self._cube_qpos
        data.qpos[a:a + 3] = (cube_xy[0], cube_xy[1], cube_z)
        data.qpos[a + 3:a + 7] = (np.cos(cube_yaw / 2), 0.0, 0.0, np.sin(cube_yaw / 2))
        data.qvel[self._cube_dof:self._cube_dof + 6] = 0.0
        data.mocap_pos[self._box_mocap] = (box_xy[0], box_xy[1], TABLE_TOP_Z)
        data.mocap_quat[self._box_mocap] = (np.cos(box_yaw / 2), 0.0, 0.0, np.sin(box_yaw / 2))

    def cube_position(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self._cube_qpos:self._cube_qpos + 3].copy()

    def box_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, float]:
        q = data.mocap_quat[self._box_mocap]
        return data.mocap_pos[self._box_mocap].copy(), float(2 * np.arctan2(q[3], q[0]))

    def evaluate(self, data: mujoco.MjData) -> TaskStatus:
        cube = self.cube_position(data)
        box_pos, box_yaw = self.box_pose(data)
        c, s = np.cos(box_yaw), np.sin(box_yaw)
        d = cube[:2] - box_pos[:2]
        local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
        inside = bool(np.all(np.abs(local) < BOX_INNER_HALF - 0.005)
                      and box_pos[2] < cube[2] < box_pos[2] + BOX_RIM_HEIGHT)
        touching = False
        for i in range(data.ncon):
            g1, g2 = data.contact.geom1[i], data.contact.geom2[i]
            if (g1 == self._cube_geom and g2 in self._hand_geoms) or (g2 == self._cube_geom and g1 in self._hand_geoms):
                touching = True
                break
        lifted = bool(cube[2] - CUBE_HALF > TABLE_TOP_Z + 0.03)
        preds = {"cube_in_box": inside, "hand_touching_object": touching, "cube_lifted": lifted}
        return TaskStatus(self.name, self.instruction, self.seed, inside, preds, float(data.time - self._t0))


class CubeInBoxWalkTask(CubeInBoxTask):
    """The cube out of arm reach at a far end of the table: side-step, pick, side-step back, place."""
    name = "cube_in_box_walk"
    instruction = "Step over to the red cube at the end of the table and put it in the box."

    def reset(self, data: mujoco.MjData, seed: int) -> None:
        super().reset(data, seed)
        self._base0 = data.qpos[0:2].copy()
        self._moved = False

    def evaluate(self, data: mujoco.MjData) -> TaskStatus:
        status = super().evaluate(data)
        self._moved = self._moved or bool(np.linalg.norm(data.qpos[0:2] - self._base0) > BASE_MOVED)
        status.predicates["base_moved"] = self._moved
        return status


class CubeInBoxNearTask(CubeInBoxTask):
    """cube_in_box with both objects in small regions on the right (the end-to-end demo's task)."""
    name = "cube_in_box_near"


TASK_CLASSES = {t.name: t for t in (CubeInBoxTask, CubeInBoxWalkTask, CubeInBoxNearTask)}
