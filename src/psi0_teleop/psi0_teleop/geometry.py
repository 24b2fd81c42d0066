"""Small rigid-body helpers and the PICO -> robot axis convention.

Quaternions are (x, y, z, w), as in geometry_msgs and XRoboToolkit.

Frames:
- PICO world: X right, Y up, Z back (XRoboToolkit; origin at the headset at start-up).
- Robot axes (REP 103): X forward, Y left, Z up.
A PICO vector v maps to robot axes as R_PICO_TO_ROBOT @ v:
robot x = -pico z, robot y = -pico x, robot z = pico y.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

R_PICO_TO_ROBOT = np.array([[0.0, 0.0, -1.0],
                            [-1.0, 0.0, 0.0],
                            [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Pose:
    """Position (m) and rotation matrix of a frame in some world frame."""
    pos: np.ndarray
    rot: np.ndarray

    @staticmethod
    def from_xyzquat(pos, quat_xyzw) -> "Pose":
        return Pose(np.asarray(pos, float).reshape(3), quat_to_mat(quat_xyzw))

    def quat(self) -> np.ndarray:
        return mat_to_quat(self.rot)

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.pos.sum() + self.rot.sum()))


def quat_to_mat(q) -> np.ndarray:
    x, y, z, w = np.asarray(q, float)
    n = x * x + y * y + z * z + w * w
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"invalid quaternion {q!r}")
    s = 2.0 / n
    return np.array([
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)]])


def mat_to_quat(m) -> np.ndarray:
    m = np.asarray(m, float)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    q = np.array(q)
    return q / np.linalg.norm(q) * (1.0 if q[3] >= 0 else -1.0)


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rpy_to_mat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """R = Rz(yaw) Ry(pitch) Rx(roll) (fixed-axis roll, pitch, yaw)."""
    return rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)


def heading(rot: np.ndarray) -> float:
    """Yaw of a frame's x axis projected on the ground plane (robot axes, z up)."""
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


def wrap_angle(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def rotation_angle(r: np.ndarray) -> float:
    """Angle (rad) of a rotation matrix."""
    c = (np.trace(r) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def pico_to_robot_axes(pose: Pose) -> Pose:
    """Re-express a PICO-world pose in robot axes (same origin), keeping the tracker's own body axes."""
    return Pose(R_PICO_TO_ROBOT @ pose.pos, R_PICO_TO_ROBOT @ pose.rot)


def robot_axes_to_pico(pose: Pose) -> Pose:
    return Pose(R_PICO_TO_ROBOT.T @ pose.pos, R_PICO_TO_ROBOT.T @ pose.rot)
