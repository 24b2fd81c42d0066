"""Command shaping: what every joint target goes through before it is sent.

Joint-limit clamps, per-joint velocity caps (a bound on the step per tick),
the start-up ramp, and clamping the 36-D action into the configured ranges.
Pure numpy, no state except what the caller passes in.
"""
from __future__ import annotations

import numpy as np

from psi0_common import action_layout as al
from psi0_common import g1

BODY_LIMITS = g1.body_limits()
HAND_LIMITS = {"left": g1.DEX3_LEFT_LIMITS, "right": g1.DEX3_RIGHT_LIMITS}


def clamp_to_limits(q: np.ndarray, limits: np.ndarray) -> np.ndarray:
    return np.clip(q, limits[:, 0], limits[:, 1])


def cap_step(target: np.ndarray, previous: np.ndarray | None, caps: np.ndarray, dt: float) -> np.ndarray:
    """Move from `previous` towards `target` by at most caps * dt per joint."""
    if previous is None:
        return target.copy()
    step = np.clip(target - previous, -caps * dt, caps * dt)
    return previous + step


def smoothstep(alpha: float) -> float:
    """0 -> 1 with zero slope at both ends (no velocity jump when the ramp starts or ends)."""
    a = min(max(alpha, 0.0), 1.0)
    return a * a * (3.0 - 2.0 * a)


def ramp(start: np.ndarray, target: np.ndarray, elapsed: float, duration: float) -> np.ndarray:
    s = smoothstep(elapsed / duration)
    return start + s * (target - start)


def shape_body(target: np.ndarray, previous: np.ndarray | None, caps: np.ndarray, dt: float) -> np.ndarray:
    """Clamp to the joint limits, then cap the step: the order keeps both guarantees."""
    return clamp_to_limits(cap_step(clamp_to_limits(target, BODY_LIMITS), previous, caps, dt), BODY_LIMITS)


def shape_hand(side: str, target: np.ndarray, previous: np.ndarray | None, cap: float, dt: float) -> np.ndarray:
    lim = HAND_LIMITS[side]
    caps = np.full(g1.NUM_HAND, cap)
    return clamp_to_limits(cap_step(clamp_to_limits(target, lim), previous, caps, dt), lim)


def clamp_action(a: np.ndarray, cfg) -> np.ndarray:
    """The action with its torso, height and velocity commands inside the configured ranges."""
    out = a.copy()
    out[al.TORSO_RPY.start] = np.clip(a[al.TORSO_RPY.start], -cfg.max_torso_roll, cfg.max_torso_roll)
    out[al.TORSO_RPY.start + 1] = np.clip(a[al.TORSO_RPY.start + 1], cfg.min_torso_pitch, cfg.max_torso_pitch)
    out[al.TORSO_RPY.start + 2] = np.clip(a[al.TORSO_RPY.start + 2], -cfg.max_torso_yaw, cfg.max_torso_yaw)
    out[al.BASE_HEIGHT] = np.clip(a[al.BASE_HEIGHT], cfg.min_base_height, cfg.max_base_height)
    out[al.BASE_VX] = np.clip(a[al.BASE_VX], -cfg.max_vx, cfg.max_vx)
    out[al.BASE_VY] = np.clip(a[al.BASE_VY], -cfg.max_vy, cfg.max_vy)
    out[al.YAW_RATE] = np.clip(a[al.YAW_RATE], -cfg.max_yaw_rate, cfg.max_yaw_rate)
    return out


def stopped(a: np.ndarray) -> np.ndarray:
    """The action with its base velocities zeroed (HOLD: stay where you are)."""
    out = a.copy()
    out[al.BASE_VX] = out[al.BASE_VY] = out[al.YAW_RATE] = 0.0
    return out
