"""Unitree G1 (29 DoF) and Dex3-1 hand facts shared by sim, bridge, IK and data.

Sources: Unitree's G1 developer documentation and the unitree_ros2 /
unitree_sdk2 examples (motor order, debug-mode rules), the g1_29dof robot
description published by Unitree (joint limits, torque limits), and gains
seen on real robots (docs/sources.md). Every index here is a motor index on
the robot's /lowcmd and /lowstate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Joint:
    name: str
    lower: float   # rad
    upper: float   # rad
    torque: float  # N m, peak torque the motor driver allows
    kp: float      # default stiffness on the real robot
    kd: float      # default damping on the real robot


# Body motors 0-28 in Unitree's order.
BODY_JOINTS: tuple[Joint, ...] = (
    Joint("left_hip_pitch", -2.5307, 2.8798, 88, 150, 2),
    Joint("left_hip_roll", -0.5236, 2.9671, 139, 150, 2),
    Joint("left_hip_yaw", -2.7576, 2.7576, 88, 150, 2),
    Joint("left_knee", -0.087267, 2.8798, 139, 300, 4),
    Joint("left_ankle_pitch", -0.87267, 0.5236, 50, 40, 2),
    Joint("left_ankle_roll", -0.2618, 0.2618, 50, 40, 2),
    Joint("right_hip_pitch", -2.5307, 2.8798, 88, 150, 2),
    Joint("right_hip_roll", -2.9671, 0.5236, 139, 150, 2),
    Joint("right_hip_yaw", -2.7576, 2.7576, 88, 150, 2),
    Joint("right_knee", -0.087267, 2.8798, 139, 300, 4),
    Joint("right_ankle_pitch", -0.87267, 0.5236, 50, 40, 2),
    Joint("right_ankle_roll", -0.2618, 0.2618, 50, 40, 2),
    Joint("waist_yaw", -2.618, 2.618, 88, 250, 5),
    Joint("waist_roll", -0.52, 0.52, 50, 250, 5),
    Joint("waist_pitch", -0.52, 0.52, 50, 250, 5),
    Joint("left_shoulder_pitch", -3.0892, 2.6704, 25, 100, 5),
    Joint("left_shoulder_roll", -1.5882, 2.2515, 25, 100, 5),
    Joint("left_shoulder_yaw", -2.618, 2.618, 25, 50, 2),
    Joint("left_elbow", -1.0472, 2.0944, 25, 50, 2),
    Joint("left_wrist_roll", -1.9722, 1.9722, 25, 30, 1),
    Joint("left_wrist_pitch", -1.6144, 1.6144, 5, 20, 1),
    Joint("left_wrist_yaw", -1.6144, 1.6144, 5, 20, 1),
    Joint("right_shoulder_pitch", -3.0892, 2.6704, 25, 100, 5),
    Joint("right_shoulder_roll", -2.2515, 1.5882, 25, 100, 5),
    Joint("right_shoulder_yaw", -2.618, 2.618, 25, 50, 2),
    Joint("right_elbow", -1.0472, 2.0944, 25, 50, 2),
    Joint("right_wrist_roll", -1.9722, 1.9722, 25, 30, 1),
    Joint("right_wrist_pitch", -1.6144, 1.6144, 5, 20, 1),
    Joint("right_wrist_yaw", -1.6144, 1.6144, 5, 20, 1),
)
NUM_BODY = len(BODY_JOINTS)  # 29
BODY_NAMES = tuple(j.name for j in BODY_JOINTS)

LEFT_LEG = slice(0, 6)
RIGHT_LEG = slice(6, 12)
LEGS = slice(0, 12)
WAIST = slice(12, 15)      # yaw, roll, pitch
LOWER_BODY = slice(0, 15)  # what AMO drives: 12 legs + 3 waist
LEFT_ARM = slice(15, 22)
RIGHT_ARM = slice(22, 29)
WAIST_YAW, WAIST_ROLL, WAIST_PITCH = 12, 13, 14

# Dex3-1 hand motors 0-6: thumb 0, 1, 2, middle 0, 1, index 0, 1.
# The right hand mirrors the left: its non-thumb-0 ranges flip sign.
DEX3_NAMES = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")
NUM_HAND = len(DEX3_NAMES)  # 7
DEX3_LEFT_LIMITS = np.array([
    (-1.0472, 1.0472), (-0.7243, 1.0472), (0.0, 1.7453),
    (-1.5708, 0.0), (-1.7453, 0.0), (-1.5708, 0.0), (-1.7453, 0.0)])
DEX3_RIGHT_LIMITS = np.array([
    (-1.0472, 1.0472), (-1.0472, 0.7243), (-1.7453, 0.0),
    (0.0, 1.5708), (0.0, 1.7453), (0.0, 1.5708), (0.0, 1.7453)])
DEX3_TORQUE = 2.45   # N m
DEX3_KP, DEX3_KD = 1.5, 0.2

# Unitree's own helpers go passive beyond these (ARCHITECTURE.md).
MAX_TILT_RAD = 1.0
MAX_JOINT_VELOCITY = 10.0
MAX_ANGULAR_VELOCITY = 6.0
DAMPING_KD = 8.0

NOMINAL_PELVIS_HEIGHT = 0.75  # m, standing

# Standing pose: slight knee bend, arms relaxed at the sides.
DEFAULT_BODY_POSE = np.zeros(NUM_BODY)
for _leg in (LEFT_LEG, RIGHT_LEG):
    DEFAULT_BODY_POSE[_leg] = (-0.1, 0.0, 0.0, 0.3, -0.2, 0.0)
DEFAULT_BODY_POSE[LEFT_ARM] = (0.2, 0.2, 0.0, 0.9, 0.0, 0.0, 0.0)
DEFAULT_BODY_POSE[RIGHT_ARM] = (0.2, -0.2, 0.0, 0.9, 0.0, 0.0, 0.0)
DEFAULT_BODY_POSE.setflags(write=False)


def body_limits() -> np.ndarray:
    """(29, 2) array of [lower, upper] joint limits in motor order."""
    return np.array([(j.lower, j.upper) for j in BODY_JOINTS])


def body_gains() -> tuple[np.ndarray, np.ndarray]:
    return np.array([j.kp for j in BODY_JOINTS], float), np.array([j.kd for j in BODY_JOINTS], float)


def body_torque_limits() -> np.ndarray:
    return np.array([j.torque for j in BODY_JOINTS], float)
