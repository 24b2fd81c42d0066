"""Lower-body backends: from the 36-D action to the 15 lower-body joint targets.

- `hold`: the lower-body pose measured when the bridge (re)started.
- `kinematic`: for psi0_sim's kinematic base. Waist from torso roll/pitch/yaw,
  legs from the pelvis height by an analytic squat (two-link leg, foot flat,
  pelvis upright, the hip-ankle horizontal offset of the default pose kept),
  base velocity and height forwarded to the sim.
- `amo`: the AMO policy (psi0_policy.bridge.amo).

Every backend's targets then go through the bridge's limit clamps and
velocity caps; a backend never writes to the robot itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from psi0_common import action_layout as al
from psi0_common import g1

from psi0_policy.bridge.robot import RobotState


@dataclass(frozen=True)
class BaseCommand:
    """What the sim's kinematic base should do (psi0_msgs/SimBaseCommand)."""

    vx: float
    vy: float
    yaw_rate: float
    height: float


class HoldBackend:
    name = "hold"

    def __init__(self):
        self._pose: np.ndarray | None = None

    def reset(self, state: RobotState) -> None:
        self._pose = state.q[g1.LOWER_BODY].astype(float).copy()

    def lower_body(self, state: RobotState, action: np.ndarray, now: float) -> np.ndarray:
        if self._pose is None:
            self.reset(state)
        return self._pose.copy()

    def base_command(self, action: np.ndarray, q_cmd: np.ndarray) -> BaseCommand | None:
        return None


class SquatLeg:
    """Analytic two-link squat: pelvis height <-> (hip pitch, knee, ankle pitch) of one leg.

    The nominal pose (g1.DEFAULT_BODY_POSE's leg) is at the nominal height;
    other heights keep the hip above the same point of the foot, the foot
    flat and the pelvis upright: ankle pitch = -(knee + hip pitch).
    """

    HIP, KNEE, ANKLE = 0, 3, 4  # indices inside one leg's six joints

    def __init__(self, thigh: float, shank: float, nominal_height: float = g1.NOMINAL_PELVIS_HEIGHT):
        self.l1, self.l2 = thigh, shank
        leg0 = g1.DEFAULT_BODY_POSE[g1.LEFT_LEG]
        a0 = -leg0[self.HIP]              # thigh angle from vertical, forward positive
        b0 = leg0[self.KNEE] - a0          # shank angle from vertical, backward positive
        self.x0 = thigh * math.sin(a0) - shank * math.sin(b0)
        self.d0 = thigh * math.cos(a0) + shank * math.cos(b0)
        self.h0 = nominal_height
        reach = math.sqrt(max((thigh + shank) ** 2 * 0.999 - self.x0 ** 2, 0.0))
        self.max_height = self.h0 + reach - self.d0

    def joints(self, height: float) -> tuple[float, float, float]:
        """(hip pitch, knee, ankle pitch) for a pelvis height (clamped to what the leg reaches)."""
        d = min(self.d0 + (height - self.h0), self.max_height - self.h0 + self.d0)
        d = max(d, 0.05)
        r2 = self.x0 ** 2 + d ** 2
        c = (r2 - self.l1 ** 2 - self.l2 ** 2) / (2 * self.l1 * self.l2)
        knee = math.acos(max(-1.0, min(1.0, c)))
        a = math.atan2(self.x0, d) + math.atan2(self.l2 * math.sin(knee), self.l1 + self.l2 * math.cos(knee))
        return -a, knee, -(knee - a)

    def height(self, hip_pitch: float, knee: float) -> float:
        """Pelvis height of a leg pose (forward kinematics, foot flat)."""
        a = -hip_pitch
        return self.h0 + self.l1 * math.cos(a) + self.l2 * math.cos(knee - a) - self.d0


class KinematicBackend:
    name = "kinematic"

    def __init__(self, thigh: float, shank: float, height_offset: float = 0.0, max_height_rate: float = 0.3):
        self.leg = SquatLeg(thigh, shank)
        self.height_offset = height_offset
        self.max_height_rate = max_height_rate
        self._height: float | None = None
        self._last: float | None = None

    def reset(self, state: RobotState) -> None:
        self._height = None
        self._last = None

    def _rate_limited_height(self, target: float, now: float) -> float:
        """The squat follows height commands at a bounded speed, like the sim's base does."""
        if self._height is None or self._last is None:
            self._height = target
        else:
            dt = min(max(now - self._last, 0.0), 0.1)
            step = self.max_height_rate * dt
            self._height += min(max(target - self._height, -step), step)
        self._last = now
        return self._height

    def lower_body(self, state: RobotState, action: np.ndarray, now: float) -> np.ndarray:
        out = np.zeros(15)
        hip, knee, ankle = self.leg.joints(self._rate_limited_height(float(action[al.BASE_HEIGHT]), now))
        for leg in (g1.LEFT_LEG, g1.RIGHT_LEG):
            q = np.zeros(6)
            q[SquatLeg.HIP], q[SquatLeg.KNEE], q[SquatLeg.ANKLE] = hip, knee, ankle
            out[leg] = q
        roll, pitch, yaw = action[al.TORSO_RPY]
        out[g1.WAIST_YAW], out[g1.WAIST_ROLL], out[g1.WAIST_PITCH] = yaw, roll, pitch
        return out

    def base_command(self, action: np.ndarray, q_cmd: np.ndarray) -> BaseCommand:
        """Velocities from the action; height from the commanded legs, so base and legs agree."""
        left = q_cmd[g1.LEFT_LEG]
        right = q_cmd[g1.RIGHT_LEG]
        h = 0.5 * (self.leg.height(left[SquatLeg.HIP], left[SquatLeg.KNEE])
                   + self.leg.height(right[SquatLeg.HIP], right[SquatLeg.KNEE]))
        return BaseCommand(float(action[al.BASE_VX]), float(action[al.BASE_VY]), float(action[al.YAW_RATE]),
                           h + self.height_offset)


def make_backend(cfg):
    """The configured backend; `amo` loads (and checks) its TorchScript files here."""
    if cfg.backend == "hold":
        return HoldBackend()
    if cfg.backend == "kinematic":
        return KinematicBackend(cfg.thigh_length, cfg.shank_length, cfg.sim_height_offset, cfg.max_height_rate)
    from psi0_policy.bridge.amo import AmoBackend  # torch is imported only for this backend

    return AmoBackend.from_config(cfg)
