"""The 36-D whole-body action and 32-D state of Psi0, by name.

One layout for the policy, teleop, the AMO bridge, the recorder and the
dataset, so none of them needs to know who drives.
"""
from __future__ import annotations

import numpy as np

from psi0_common import g1

ACTION_DIM = 36
STATE_DIM = 32

# Action slices.
LEFT_HAND = slice(0, 7)
RIGHT_HAND = slice(7, 14)
HANDS = slice(0, 14)
LEFT_ARM = slice(14, 21)
RIGHT_ARM = slice(21, 28)
ARMS = slice(14, 28)
TORSO_RPY = slice(28, 31)
BASE_HEIGHT = 31
BASE_VX, BASE_VY = 32, 33
YAW_RATE = 34
TARGET_YAW = 35

# State: 14 hand + 14 arm joint positions + torso rpy + base height; its first
# 32 entries line up with the action's first 32.
STATE_HANDS = slice(0, 14)
STATE_ARMS = slice(14, 28)
STATE_TORSO_RPY = slice(28, 31)
STATE_BASE_HEIGHT = 31

ACTION_GROUPS: dict[str, slice] = {
    "left_hand": LEFT_HAND,
    "right_hand": RIGHT_HAND,
    "left_arm": LEFT_ARM,
    "right_arm": RIGHT_ARM,
    "torso_rpy": TORSO_RPY,
    "base_height": slice(BASE_HEIGHT, BASE_HEIGHT + 1),
    "base_velocity": slice(BASE_VX, BASE_VY + 1),
    "yaw": slice(YAW_RATE, TARGET_YAW + 1),
}


def action_names() -> list[str]:
    names = [f"left_hand.{n}" for n in g1.DEX3_NAMES] + [f"right_hand.{n}" for n in g1.DEX3_NAMES]
    names += [f"{j.name}" for j in g1.BODY_JOINTS[g1.LEFT_ARM]]
    names += [f"{j.name}" for j in g1.BODY_JOINTS[g1.RIGHT_ARM]]
    names += ["torso_roll", "torso_pitch", "torso_yaw", "base_height", "base_vx", "base_vy",
              "yaw_rate", "target_yaw"]
    assert len(names) == ACTION_DIM
    return names


def state_names() -> list[str]:
    return action_names()[:STATE_DIM]


def standing_action() -> np.ndarray:
    """Action that keeps the robot standing still in its default pose."""
    a = np.zeros(ACTION_DIM)
    a[LEFT_ARM] = g1.DEFAULT_BODY_POSE[g1.LEFT_ARM]
    a[RIGHT_ARM] = g1.DEFAULT_BODY_POSE[g1.RIGHT_ARM]
    a[BASE_HEIGHT] = g1.NOMINAL_PELVIS_HEIGHT
    return a


def validate_action(action) -> np.ndarray:
    """Return `action` as a float array, or raise ValueError saying what is wrong."""
    a = np.asarray(action, dtype=float)
    if a.shape != (ACTION_DIM,):
        raise ValueError(f"action must have shape ({ACTION_DIM},), got {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        names = action_names()
        raise ValueError("action has non-finite values at " + ", ".join(f"{i} ({names[i]})" for i in bad[:6]))
    return a
