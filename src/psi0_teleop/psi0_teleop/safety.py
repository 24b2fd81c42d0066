"""Input safety for teleoperation: freshness, pose-jump rejection, engage and e-stop edges.

- Fresh: tracker and glove data older than `max_age` (100 ms) makes the
  teleop hold (last pose, zero velocity) and raise a flag.
- Jumps: while engaged, a tracker sample whose pose moved more than
  `max_jump_m` / `max_jump_rad` (plus what a real motion at `max_speed` /
  `max_angular_speed` covers in the elapsed time) from the last accepted
  one (tracking loss,
  re-centering, swapped trackers) is rejected; if the tracker really moved,
  the samples keep being rejected, the data goes stale and the teleop holds
  until the operator re-engages (which accepts the new pose).
- Buttons: engage toggles on its rising edge; e-stop acts while pressed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_teleop.devices import TRACKER_NAMES, TrackerSample
from psi0_teleop.geometry import rotation_angle


@dataclass(frozen=True)
class SafetyParams:
    max_age: float = 0.1          # s
    max_jump_m: float = 0.25      # m between consecutive samples, on top of max_speed * dt
    max_jump_rad: float = 1.2     # rad between consecutive samples, on top of max_angular_speed * dt
    max_speed: float = 4.0        # m/s a tracker may really move (a swinging foot)
    max_angular_speed: float = 12.0  # rad/s
    jump_window: float = 0.5      # s: samples further apart than this are not compared


class TrackerGuard:
    def __init__(self, params: SafetyParams = SafetyParams()):
        self.p = params
        self.last: TrackerSample | None = None
        self.rejected = 0
        self.last_reason = ""
        self._engage_was = False

    def reset(self) -> None:
        """Forget the reference sample: the next one is accepted (used on engage)."""
        self.last = None

    def check(self, sample: TrackerSample, strict: bool) -> bool:
        """Accept or reject a sample; `strict` (engaged) enables jump rejection."""
        prev = self.last
        dt = None if prev is None else sample.stamp - prev.stamp
        if strict and dt is not None and 0 <= dt <= self.p.jump_window:
            max_d = self.p.max_jump_m + self.p.max_speed * dt
            max_r = self.p.max_jump_rad + self.p.max_angular_speed * dt
            for name in TRACKER_NAMES:
                if not (sample.valid(name) and prev.valid(name)):
                    continue
                a, b = prev.poses[name], sample.poses[name]
                d = float(np.linalg.norm(b.pos - a.pos))
                r = rotation_angle(a.rot.T @ b.rot)
                if d > max_d or r > max_r:
                    self.rejected += 1
                    self.last_reason = f"{name} jumped {d:.2f} m / {np.degrees(r):.0f} deg"
                    return False
        if prev is not None and sample.stamp < prev.stamp:
            self.rejected += 1
            self.last_reason = "sample older than the previous one"
            return False
        self.last = sample
        return True

    def engage_edge(self, sample: TrackerSample) -> bool:
        """True once per press of the engage button."""
        edge = sample.engage and not self._engage_was
        self._engage_was = sample.engage
        return edge


def is_stale(stamp: float | None, now: float, max_age: float) -> bool:
    return stamp is None or now - stamp > max_age
