"""Offscreen rendering of the head D435i camera (and any other named camera).

A `CameraRenderer` owns its own MjData and GL context, so it can run in a
thread of its own: it draws a snapshot (qpos + mocap poses) copied from the
physics thread, never the live MjData. The GL context belongs to the thread
that created the renderer: create it in the thread that renders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def k(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    def p(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]


def intrinsics(model: mujoco.MjModel, camera: str, width: int, height: int) -> Intrinsics:
    """Pinhole intrinsics of a MuJoCo camera (square pixels, vertical field of view fovy)."""
    fovy = math.radians(float(model.cam_fovy[model.camera(camera).id]))
    f = (height / 2.0) / math.tan(fovy / 2.0)
    return Intrinsics(width, height, f, f, width / 2.0, height / 2.0)


class CameraRenderer:
    def __init__(self, model: mujoco.MjModel, width: int, height: int, camera: str = "head_camera"):
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(f"camera {width}x{height} exceeds the model's offscreen buffer "
                             f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}")
        self.model = model
        self.camera = camera
        self.cam_id = model.camera(camera).id
        self.data = mujoco.MjData(model)
        self.renderer = mujoco.Renderer(model, height=height, width=width)
        self.intrinsics = intrinsics(model, camera, width, height)

    def render(self, snapshot: dict[str, np.ndarray]) -> np.ndarray:
        """RGB (height, width, 3) uint8 image of the snapshot."""
        d = self.data
        d.qpos[:] = snapshot["qpos"]
        d.mocap_pos[:] = snapshot["mocap_pos"]
        d.mocap_quat[:] = snapshot["mocap_quat"]
        mujoco.mj_kinematics(self.model, d)
        mujoco.mj_camlight(self.model, d)
        self.renderer.update_scene(d, camera=self.cam_id)
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()
