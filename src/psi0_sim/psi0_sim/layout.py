"""Seeded object layouts of the sim tasks: a pure function of (task, seed), no MuJoCo.

`sample_layout(task, seed)` is what `psi0_sim.task` uses at every reset, so a
scripted demonstrator (psi0_teleop.demo) can plan from the seed alone and land
on exactly the scene the sim builds. Coordinates are world metres: x forward
from the robot's start pose, y left, the table top at z = TABLE_TOP_Z.

Tasks:
- `cube_in_box`: cube and box anywhere in the reachable, camera-visible part
  of the table, at least MIN_SEPARATION apart, both within one hand's side of
  the table (at most HAND_BAND across the midline), so one hand can carry the
  cube to the box: a cube at one side and the box at the other would need a
  hand-over (the G1's hands reach only a few cm across its midline at table
  height, measured with the teleop IK).
- `cube_in_box_walk` (loco-manipulation): the cube lies at one far end of the
  table, beyond arm reach from the start pose (more than REACH_LIMIT_Y to the
  side), the box near the middle of the table. The robot
  must side-step to the cube, pick it up and side-step back to the box.
- `cube_in_box_near` (the end-to-end demo's task): like `cube_in_box`, but
  both objects stay in small regions on the robot's right (cube far right,
  box near the middle; +-2 cm and +-0.2 rad around them). Twenty scripted
  demonstrations and an hour of CPU training cannot cover the whole table;
  this narrower spread still changes the scene with every seed.

Cube yaw: a cube is symmetric under 90-degree turns, so any yaw is equivalent
to one in [-45, 45] deg. The Dex3 side grasp (palm flat against one face,
fingers and thumb closing on the opposite face) holds the cube when a face is
within about 25 deg of the palm plane; further round it closes on an edge and
the cube spins out. CUBE_YAW_RANGE therefore limits the yaw to +-0.35 rad
(20 deg) from face-on, which still varies the image; a demonstrator could
rotate the wrist for the rest, which this stack's IK makes fragile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TABLE_TOP_Z = 0.72
CUBE_HALF = 0.02
BOX_INNER_HALF = 0.065
BOX_RIM_HEIGHT = 0.053
# Where objects may be placed (world x, y ranges, metres): reachable and in the head camera's view.
# x up to 0.38 / 0.40: the tilted Dex3 grasp reaches a cube no further (measured with the teleop IK + sim).
CUBE_REGION = ((0.30, 0.38), (-0.22, 0.22))
BOX_REGION = ((0.32, 0.40), (-0.22, 0.22))
MIN_SEPARATION = 0.17
HAND_BAND = 0.03             # m: a hand reaches this far across the body's midline (at table height)
CUBE_YAW_RANGE = 0.35        # rad, |cube yaw| (see the module docstring)
BOX_YAW_RANGE = 0.4          # rad, |box yaw|
# cube_in_box_walk: the cube at a far end of the table, the box near the middle.
WALK_CUBE_REGION = ((0.30, 0.38), (0.38, 0.44))   # y given for the left end; the right end mirrors it
WALK_BOX_REGION = ((0.32, 0.40), (-0.02, 0.10))   # y on the cube's side of the middle, mirrored likewise
# cube_in_box_near: small regions on the right (the right hand carries).
NEAR_CUBE_REGION = ((0.32, 0.36), (-0.22, -0.18))
NEAR_BOX_REGION = ((0.34, 0.38), (-0.04, 0.0))
NEAR_YAW_RANGE = 0.2         # rad, |cube yaw| and |box yaw|
REACH_LIMIT_Y = 0.34         # m: no palm of the standing robot reaches a cube further to the side than this
TASK_NAMES = ("cube_in_box", "cube_in_box_walk", "cube_in_box_near")


@dataclass(frozen=True)
class Layout:
    """Object placement of one episode (world frame, table-top objects)."""
    task: str
    seed: int
    cube_xy: tuple[float, float]
    cube_yaw: float
    box_xy: tuple[float, float]
    box_yaw: float

    @property
    def cube_side(self) -> str:
        """The robot's side the cube lies on ('left' = +y)."""
        return "left" if self.cube_xy[1] >= 0.0 else "right"


def one_hand_reaches(*ys: float) -> bool:
    """True if one hand's side of the table (y >= -HAND_BAND for the left, <= HAND_BAND right) holds all ys."""
    return min(ys) >= -HAND_BAND or max(ys) <= HAND_BAND


def carrying_hand(layout: "Layout") -> str:
    """The hand whose side of the table holds both objects (the midpoint's side when both hands qualify)."""
    ys = (layout.cube_xy[1], layout.box_xy[1])
    left, right = min(ys) >= -HAND_BAND, max(ys) <= HAND_BAND
    if left and right:
        return "left" if sum(ys) >= 0.0 else "right"
    return "left" if left else "right"


def sample_layout(task: str, seed: int) -> Layout:
    """The seeded placement `task` uses for `seed` (deterministic, the sim and planners agree)."""
    if task == "cube_in_box":
        return _table_layout(seed)
    if task == "cube_in_box_walk":
        return _walk_layout(seed)
    if task == "cube_in_box_near":
        return _near_layout(seed)
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_NAMES)}")


def _table_layout(seed: int) -> Layout:
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        cube_xy = np.array([rng.uniform(*CUBE_REGION[0]), rng.uniform(*CUBE_REGION[1])])
        box_xy = np.array([rng.uniform(*BOX_REGION[0]), rng.uniform(*BOX_REGION[1])])
        if np.linalg.norm(cube_xy - box_xy) >= MIN_SEPARATION and one_hand_reaches(cube_xy[1], box_xy[1]):
            break
    cube_yaw = rng.uniform(-CUBE_YAW_RANGE, CUBE_YAW_RANGE)
    box_yaw = rng.uniform(-BOX_YAW_RANGE, BOX_YAW_RANGE)
    return Layout("cube_in_box", int(seed), (float(cube_xy[0]), float(cube_xy[1])), float(cube_yaw),
                  (float(box_xy[0]), float(box_xy[1])), float(box_yaw))


def _walk_layout(seed: int) -> Layout:
    rng = np.random.default_rng(seed)
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    cube_xy = (rng.uniform(*WALK_CUBE_REGION[0]), sign * rng.uniform(*WALK_CUBE_REGION[1]))
    box_xy = (rng.uniform(*WALK_BOX_REGION[0]), sign * rng.uniform(*WALK_BOX_REGION[1]))
    cube_yaw = rng.uniform(-CUBE_YAW_RANGE, CUBE_YAW_RANGE)
    box_yaw = rng.uniform(-BOX_YAW_RANGE, BOX_YAW_RANGE)
    return Layout("cube_in_box_walk", int(seed), (float(cube_xy[0]), float(cube_xy[1])), float(cube_yaw),
                  (float(box_xy[0]), float(box_xy[1])), float(box_yaw))


def _near_layout(seed: int) -> Layout:
    rng = np.random.default_rng(seed)
    cube_xy = (rng.uniform(*NEAR_CUBE_REGION[0]), rng.uniform(*NEAR_CUBE_REGION[1]))
    box_xy = (rng.uniform(*NEAR_BOX_REGION[0]), rng.uniform(*NEAR_BOX_REGION[1]))
    cube_yaw = rng.uniform(-NEAR_YAW_RANGE, NEAR_YAW_RANGE)
    box_yaw = rng.uniform(-NEAR_YAW_RANGE, NEAR_YAW_RANGE)
    return Layout("cube_in_box_near", int(seed), (float(cube_xy[0]), float(cube_xy[1])), float(cube_yaw),
                  (float(box_xy[0]), float(box_xy[1])), float(box_yaw))
