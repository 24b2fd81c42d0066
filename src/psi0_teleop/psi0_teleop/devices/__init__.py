"""One interface for every operator input: PICO trackers and MANUS gloves.

A device produces `TrackerSample`s (poses in the PICO world frame, X right,
Y up, Z back) and `GloveSample`s (MANUS ergonomics per hand, mapped by side).
Devices: the synthetic operator (scripted, seeded), a replay of a recorded
session file, and the XRoboToolkit PC-service driver (optional binding). The
ROS topic path (psi0_msgs TrackerFrames / GloveState) converts to the same
types in `psi0_teleop.ros.convert`, so the teleop core never knows the source.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from psi0_teleop.geometry import Pose

TRACKER_NAMES = ("head", "left_wrist", "right_wrist", "waist", "left_foot", "right_foot")
SIDES = ("left", "right")
NUM_ERGONOMICS = 20
# MANUS ergonomics layout per hand: finger-major, 4 values per finger.
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# index of each value inside a finger's block of 4
SPREAD, STRETCH_1, STRETCH_2, STRETCH_3 = 0, 1, 2, 3


def ergo_index(finger: str, joint: int) -> int:
    """Index into the 20 ergonomics values of `finger` ('thumb', 'index', ...) joint 0..3."""
    return FINGERS.index(finger) * 4 + joint


@dataclass(frozen=True)
class TrackerSample:
    """Operator poses at one capture time. A missing (invalid) pose is None."""
    stamp: float                      # s, capture time on the consumer's clock
    poses: dict[str, Pose | None]     # keys: TRACKER_NAMES, PICO world frame
    estop: bool = False
    engage: bool = False

    def __post_init__(self):
        valid = frozenset(k for k, p in self.poses.items() if p is not None and p.is_finite())
        object.__setattr__(self, "_valid", valid)

    def valid(self, name: str) -> bool:
        return name in self._valid


@dataclass(frozen=True)
class GloveHandSample:
    valid: bool
    ergonomics: np.ndarray = field(default_factory=lambda: np.zeros(NUM_ERGONOMICS))  # rad


@dataclass(frozen=True)
class GloveSample:
    stamp: float
    left: GloveHandSample
    right: GloveHandSample

    def hand(self, side: str) -> GloveHandSample:
        return self.left if side == "left" else self.right


class DeviceError(RuntimeError):
    """The device cannot be opened or read; the message says why and what to do."""


class OperatorDevice(abc.ABC):
    """A source of operator samples. `poll(now)` returns the samples captured since the last poll."""

    name = "device"

    @abc.abstractmethod
    def poll(self, now: float) -> tuple[list[TrackerSample], list[GloveSample]]:
        ...

    def done(self) -> bool:
        """True when a finite source (script, replay) has nothing more to give."""
        return False

    def close(self) -> None:
        pass


def make_device(kind: str, *, seed: int = 0, script: str = "", path: str = "", loop: bool = False,
                rate_hz: float = 90.0) -> OperatorDevice:
    """Build a device by name: 'synthetic', 'replay' or 'xrobotoolkit'."""
    if kind == "synthetic":
        from psi0_teleop.devices.synthetic import SyntheticOperator, load_script

        return SyntheticOperator(load_script(script) if script else None, seed=seed, rate_hz=rate_hz)
    if kind == "replay":
        from psi0_teleop.devices.replay import ReplayDevice

        if not path:
            raise DeviceError("replay device needs a session file (parameter 'session_file')")
        return ReplayDevice(path, loop=loop)
    if kind == "xrobotoolkit":
        from psi0_teleop.devices.xrobotoolkit import XRoboToolkitDevice

        return XRoboToolkitDevice()
    raise DeviceError(f"unknown device {kind!r}; one of: synthetic, replay, xrobotoolkit")
