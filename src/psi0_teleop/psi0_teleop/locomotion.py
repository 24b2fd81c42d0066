"""Locomotion commands from the operator's trackers.

- Translation: the waist tracker's horizontal velocity, expressed in the
  operator's heading frame (x forward, y left), low-pass filtered, then
  gated twice against natural body sway: (1) a position gate: while the
  waist stays within `anchor_radius` of the spot where the operator last
  stood still, the output is exactly zero; (2) a velocity dead-band with
  hysteresis (`deadband` to start, `deadband_exit` to stop; leaving resets
  the anchor). Above the dead-band the speed is shrunk by the dead-band
  (continuous), scaled by `gain` and clipped to the AMO ranges.
- Heading: the mean yaw of the two foot trackers (calibrated), relative to
  its value at engage, added to the robot's yaw at engage -> target yaw.
  The target only moves when the feet yaw differs from it by more than
  `yaw_deadband` (feet shuffling and sway do not turn the robot), at a
  yaw rate proportional to the excess, clipped to `max_yaw_rate` (rates
  below `min_yaw_rate` snap to zero so the target settles exactly); the
  published yaw rate is exactly the rate at which the target moves, so
  integrating it reproduces the target yaw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_teleop.geometry import wrap_angle


@dataclass(frozen=True)
class LocomotionParams:
    gain: float = 1.0              # robot velocity per operator velocity above the dead-band
    cutoff_hz: float = 1.5         # low-pass on the waist velocity
    deadband: float = 0.10         # m/s, filtered speed needed to start moving
    deadband_exit: float = 0.06    # m/s, filtered speed below which motion stops
    anchor_radius: float = 0.08    # m, waist excursion tolerated as sway
    max_vx: float = 0.5            # m/s (AMO range)
    max_vy: float = 0.4            # m/s
    yaw_deadband: float = 0.15     # rad, feet-vs-target yaw error tolerated
    yaw_gain: float = 2.0          # 1/s, yaw rate per rad of error beyond the dead-band
    max_yaw_rate: float = 0.6      # rad/s
    min_yaw_rate: float = 0.05     # rad/s, smaller rates snap to zero (the target settles exactly)
    max_dt: float = 0.2            # s, longer gaps reset the velocity estimate


@dataclass(frozen=True)
class LocomotionCommand:
    vx: float
    vy: float
    yaw_rate: float
    target_yaw: float
    moving: bool


class LocomotionMapper:
    def __init__(self, params: LocomotionParams = LocomotionParams()):
        self.p = params
        self.reset()

    def reset(self, robot_yaw: float = 0.0) -> None:
        self._last_xy: np.ndarray | None = None
        self._last_t: float | None = None
        self._v_f = np.zeros(2)
        self._anchor: np.ndarray | None = None
        self._moving = False
        self._robot_yaw0 = float(robot_yaw)
        self._feet_yaw0: float | None = None
        self._feet_yaw_unwrapped: float | None = None
        self.target_yaw = float(robot_yaw)
        self.yaw_rate = 0.0
        self.v_cmd = np.zeros(2)

    def update(self, t: float, waist_xy: np.ndarray | None, heading: float | None,
               feet_yaw: float | None) -> LocomotionCommand:
        """One tracker sample: waist position (m, room frame, z up), operator heading and feet yaw (rad)."""
        dt = None if self._last_t is None else t - self._last_t
        if dt is not None and dt <= 0:
            return self.command()
        self._update_translation(t, dt, waist_xy, heading)
        self._update_yaw(dt, feet_yaw)
        return self.command()

    def command(self) -> LocomotionCommand:
        return LocomotionCommand(float(self.v_cmd[0]), float(self.v_cmd[1]), float(self.yaw_rate),
                                 float(self.target_yaw), self._moving)

    def hold(self) -> LocomotionCommand:
        """Stop: zero velocity and yaw rate, keep the target yaw (used on stale or rejected input)."""
        self.v_cmd = np.zeros(2)
        self.yaw_rate = 0.0
        self._moving = False
        self._last_t = None
        self._last_xy = None
        self._anchor = None
        self._v_f = np.zeros(2)
        return self.command()

    def _update_translation(self, t: float, dt: float | None, xy, heading) -> None:
        p = self.p
        if xy is None or heading is None:
            self.hold()
            return
        xy = np.asarray(xy, float)
        if self._last_xy is None or dt is None or dt > p.max_dt:
            self._last_xy, self._last_t = xy, t
            self._v_f = np.zeros(2)
            self._anchor = xy.copy()
            self.v_cmd = np.zeros(2)
            self._moving = False
            return
        v_world = (xy - self._last_xy) / dt
        self._last_xy, self._last_t = xy, t
        c, s = np.cos(heading), np.sin(heading)
        v_body = np.array([c * v_world[0] + s * v_world[1], -s * v_world[0] + c * v_world[1]])
        alpha = 1.0 - np.exp(-2 * np.pi * p.cutoff_hz * dt)
        self._v_f = self._v_f + alpha * (v_body - self._v_f)
        speed = float(np.linalg.norm(self._v_f))
        if self._anchor is None:
            self._anchor = xy.copy()
        outside = float(np.linalg.norm(xy - self._anchor)) > p.anchor_radius
        if self._moving:
            if speed < p.deadband_exit:
                self._moving = False
                self._anchor = xy.copy()
        elif outside and speed > p.deadband:
            self._moving = True
        if not self._moving:
            self.v_cmd = np.zeros(2)
            return
        shrink = max(0.0, speed - p.deadband) / speed if speed > 0 else 0.0
        v = p.gain * shrink * self._v_f
        self.v_cmd = np.array([np.clip(v[0], -p.max_vx, p.max_vx), np.clip(v[1], -p.max_vy, p.max_vy)])

    def _update_yaw(self, dt: float | None, feet_yaw: float | None) -> None:
        p = self.p
        if feet_yaw is None:
            self.yaw_rate = 0.0
            return
        if self._feet_yaw_unwrapped is None:
            self._feet_yaw_unwrapped = float(feet_yaw)
            self._feet_yaw0 = float(feet_yaw)
        else:
            self._feet_yaw_unwrapped += float(wrap_angle(feet_yaw - self._feet_yaw_unwrapped))
        desired = self._robot_yaw0 + self._feet_yaw_unwrapped - self._feet_yaw0
        err = desired - self.target_yaw
        if dt is None or dt > p.max_dt or abs(err) <= p.yaw_deadband:
            self.yaw_rate = 0.0
            return
        excess = err - np.sign(err) * p.yaw_deadband
        rate = float(np.clip(p.yaw_gain * excess, -p.max_yaw_rate, p.max_yaw_rate))
        if abs(rate) < p.min_yaw_rate:
            self.yaw_rate = 0.0
            return
        self.yaw_rate = rate
        self.target_yaw += self.yaw_rate * dt
