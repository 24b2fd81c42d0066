"""The robot's measured state as plain arrays, and the commands the bridge sends.

The node converts unitree_hg messages to and from these; the core never sees
a ROS message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from psi0_common import g1
from psi0_common.unitree_codec import NUM_MOTORS, LowCmdData, MotorCommands, dex3_mode_byte, with_crc

BODY_MOTOR_MODE = 1  # 1 = enable (PMSM) on every body motor, as unitree_sdk2's G1 examples do


@dataclass
class RobotState:
    """One LowState: joint positions/velocities of the 29 body motors and the pelvis IMU."""

    stamp: float                 # receive time on the bridge's clock (s)
    q: np.ndarray                # (29,)
    dq: np.ndarray               # (29,)
    quat: np.ndarray             # (4,) w, x, y, z
    gyro: np.ndarray             # (3,) rad/s, body frame
    rpy: np.ndarray              # (3,) rad
    mode_machine: int = 0

    @classmethod
    def standing(cls, stamp: float = 0.0) -> "RobotState":
        """A robot standing still in the default pose (tests, fakes)."""
        return cls(stamp, g1.DEFAULT_BODY_POSE.copy(), np.zeros(g1.NUM_BODY), np.array([1.0, 0, 0, 0]),
                   np.zeros(3), np.zeros(3))

    def problem(self) -> str:
        """Why this state cannot be trusted, or '' if it can."""
        for name, n in (("q", g1.NUM_BODY), ("dq", g1.NUM_BODY), ("gyro", 3), ("rpy", 3), ("quat", 4)):
            v = getattr(self, name)
            if v.shape != (n,):
                return f"LowState {name} has shape {v.shape}, expected ({n},)"
            if not np.isfinite(v).all():
                return f"LowState {name} has non-finite values"
        return ""

    def quat_ok(self) -> bool:
        return 0.9 < float(np.linalg.norm(self.quat)) < 1.1

    def tilt(self) -> float:
        """Angle between the pelvis z axis and the world z axis (rad)."""
        if self.quat_ok():
            w, x, y, z = self.quat / np.linalg.norm(self.quat)
            return float(np.arccos(np.clip(1.0 - 2.0 * (x * x + y * y), -1.0, 1.0)))
        r, p = self.rpy[0], self.rpy[1]
        return float(np.arccos(np.clip(np.cos(r) * np.cos(p), -1.0, 1.0)))

    def euler(self) -> np.ndarray:
        """Roll, pitch, yaw from the quaternion (falls back to the IMU's rpy)."""
        if not self.quat_ok():
            return self.rpy.astype(float).copy()
        w, x, y, z = self.quat / np.linalg.norm(self.quat)
        roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
        yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        return np.array([roll, pitch, yaw])


@dataclass
class HandState:
    stamp: float
    q: np.ndarray  # (7,)


@dataclass
class HandCommand:
    """One Dex3 HandCmd: 7 motors."""

    mode: np.ndarray = field(default_factory=lambda: np.array([dex3_mode_byte(i) for i in range(g1.NUM_HAND)],
                                                              np.uint8))
    q: np.ndarray = field(default_factory=lambda: np.zeros(g1.NUM_HAND))
    kp: np.ndarray = field(default_factory=lambda: np.zeros(g1.NUM_HAND))
    kd: np.ndarray = field(default_factory=lambda: np.zeros(g1.NUM_HAND))

    @property
    def damping(self) -> bool:
        return not np.any(self.kp)


def body_lowcmd(q: np.ndarray, kp: np.ndarray, kd: np.ndarray, mode_machine: int) -> LowCmdData:
    """A LowCmd for the 29 body motors with its CRC; motors 29-34 (unused on the G1) stay off."""
    m = MotorCommands()
    n = g1.NUM_BODY
    m.mode[:n] = BODY_MOTOR_MODE
    m.q[:n] = q
    m.kp[:n] = kp
    m.kd[:n] = kd
    assert len(m.q) == NUM_MOTORS
    return with_crc(LowCmdData(mode_pr=0, mode_machine=int(mode_machine), motors=m))
