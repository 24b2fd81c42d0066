"""Motor drivers of the simulated G1: validate commands, hold them, time them out.

Each motor applies `tau + kp (q* - q) + kd (dq* - dq)`, clamped to its peak
torque, like Unitree's drivers. The sim writes the terms into MuJoCo
`general` actuators (gain = tau + kp q* + kd dq*, bias = -kp q - kd dq), so the
damping term is integrated implicitly and the clamp is MuJoCo's force limit.

A command stays in force for `timeout` seconds of simulated time; after that
the bank goes limp (kp = 0, tau = 0, kd = limp_kd), as the robot does when its
commands stop. Rejected commands (bad CRC, NaN/Inf, negative gains, wrong
size) never touch the held command and are counted by reason.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from psi0_common.unitree_codec import LowCmdData, crc_ok


@dataclass
class MotorTargets:
    """Per-motor command arrays for one bank (body: 29 motors, hand: 7)."""

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    enabled: np.ndarray  # bool: MotorCmd.mode says the motor is on

    @classmethod
    def zeros(cls, n: int) -> "MotorTargets":
        z = np.zeros(n)
        return cls(z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), np.ones(n, bool))


class CommandRejected(ValueError):
    """A command the drivers refuse; `reason` is the diagnostics counter it goes to."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_targets(t: MotorTargets, n: int) -> None:
    for name in ("q", "dq", "tau", "kp", "kd"):
        arr = getattr(t, name)
        if arr.shape != (n,):
            raise CommandRejected("size", f"{name} has {arr.shape[0] if arr.ndim else 0} entries, expected {n}")
        if not np.isfinite(arr).all():
            raise CommandRejected("nonfinite", f"{name} holds NaN or Inf")
    if (t.kp < 0).any() or (t.kd < 0).any():
        raise CommandRejected("negative_gain", "kp and kd must be >= 0")


def body_targets_from_lowcmd(cmd: LowCmdData, n: int) -> MotorTargets:
    """Validate a LowCmd (CRC first, as the robot does) and take its first `n` motors."""
    if not crc_ok(cmd):
        raise CommandRejected("crc", f"LowCmd CRC 0x{cmd.crc:08x} does not match its contents")
    if not cmd.motors.is_finite():
        raise CommandRejected("nonfinite", "LowCmd holds NaN or Inf")
    m = cmd.motors
    t = MotorTargets(q=np.asarray(m.q[:n], float), dq=np.asarray(m.dq[:n], float),
                     tau=np.asarray(m.tau[:n], float), kp=np.asarray(m.kp[:n], float),
                     kd=np.asarray(m.kd[:n], float), enabled=np.asarray(m.mode[:n]) != 0)
    check_targets(t, n)
    return t


def dex3_enabled(mode: np.ndarray) -> np.ndarray:
    """Dex3 mode byte: id in bits 0-3, status in bits 4-6 (0 = off), timeout in bit 7."""
    return ((np.asarray(mode, np.int64) >> 4) & 0x07) != 0


class MotorBank:
    """Held command of one group of motors and the gains it writes into the actuators."""

    def __init__(self, name: str, n: int, timeout: float, limp_kd: float,
                 hold: MotorTargets | None = None):
        self.name = name
        self.n = n
        self.timeout = timeout
        self.limp_kd = limp_kd
        self._hold = hold           # what to do before the first command (None = limp)
        self._cmd: MotorTargets | None = None
        self._stamp = -np.inf        # sim time of the held command
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.timed_out = False
        self._version = 0            # bumped whenever the held command changes
        self._cache: tuple | None = None

    def reset(self) -> None:
        self._cmd = None
        self._stamp = -np.inf
        self.timed_out = False
        self._version += 1

    def command(self, targets: MotorTargets, now: float) -> None:
        check_targets(targets, self.n)
        self._cmd = targets
        self._stamp = now
        self.accepted += 1
        self.timed_out = False
        self._version += 1

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    @property
    def has_command(self) -> bool:
        return self._cmd is not None

    def active(self, now: float) -> MotorTargets | None:
        """The targets in force at `now` (None = limp)."""
        if self._cmd is None:
            return self._hold
        if now - self._stamp > self.timeout:
            self.timed_out = True
            return None
        return self._cmd

    def state_key(self, now: float) -> tuple[int, bool]:
        """Changes exactly when actuator_terms(now) would: lets the sim skip rewriting unchanged gains."""
        return self._version, self.active(now) is None

    def actuator_terms(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gain, b1, b2) so that force = gain + b1 q + b2 dq is this bank's PD law."""
        t = self.active(now)
        if t is None:
            z = np.zeros(self.n)
            return z, z.copy(), np.full(self.n, -self.limp_kd)
        on = t.enabled.astype(float)
        gain = on * (t.tau + t.kp * t.q + t.kd * t.dq)
        return gain, -on * t.kp, -on * t.kd
