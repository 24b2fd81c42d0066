"""A fake G1 for the bridge's core tests: it follows position commands with a first-order lag.

Deterministic; time is whatever the test says. Records every command so a test
can check the largest joint step per tick.
"""
from __future__ import annotations

import numpy as np

from psi0_common import action_layout as al
from psi0_common import g1
from psi0_common.unitree_codec import crc_ok

from psi0_policy.bridge.robot import RobotState


class FakeRobot:
    def __init__(self, q=None, mode_machine: int = 5, tau: float = 0.05):
        self.q = np.array(g1.DEFAULT_BODY_POSE if q is None else q, float)
        self.dq = np.zeros(g1.NUM_BODY)
        self.quat = np.array([1.0, 0.0, 0.0, 0.0])
        self.gyro = np.zeros(3)
        self.mode_machine = mode_machine
        self.tau = tau
        self.commands = []  # (t, state, q or None, damping)

    def state(self, t: float) -> RobotState:
        return RobotState(t, self.q.copy(), self.dq.copy(), self.quat.copy(), self.gyro.copy(), np.zeros(3),
                          self.mode_machine)

    def apply(self, t: float, out, dt: float) -> None:
        if out.lowcmd is not None:
            assert crc_ok(out.lowcmd), "LowCmd with a wrong CRC"
            assert out.lowcmd.mode_machine == self.mode_machine
        self.commands.append((t, out.state, None if out.body_q is None else out.body_q.copy(), out.damping))
        if out.body_q is not None:
            new = self.q + (out.body_q - self.q) * min(1.0, dt / self.tau)
            self.dq = (new - self.q) / dt
            self.q = new
        elif out.damping:
            self.dq = np.zeros(g1.NUM_BODY)

    def max_step(self) -> np.ndarray:
        """Largest per-joint change between consecutive position commands."""
        qs = [c[2] for c in self.commands]
        steps = [np.abs(b - a) for a, b in zip(qs, qs[1:]) if a is not None and b is not None]
        return np.max(steps, axis=0) if steps else np.zeros(g1.NUM_BODY)


def run(bridge, robot: FakeRobot, t0: float, t1: float, dt: float, action=None, source: int = 1,
        lowstate: bool = True, hook=None):
    """Tick the bridge from t0 to t1 (exclusive); returns the last output and the next time."""
    t, out = t0, None
    n = int(round((t1 - t0) / dt))
    for i in range(n):
        t = t0 + i * dt
        if lowstate:
            bridge.on_lowstate(robot.state(t))
        if action is not None:
            a = action(t) if callable(action) else action
            if a is not None:
                bridge.on_action(a, source, t)
        if hook is not None:
            hook(t)
        out = bridge.tick(t)
        robot.apply(t, out, dt)
    return out, t0 + n * dt


def action_with(**groups) -> np.ndarray:
    a = al.standing_action()
    for name, value in groups.items():
        if name in al.ACTION_GROUPS:
            a[al.ACTION_GROUPS[name]] = value
        else:
            a[getattr(al, name.upper())] = value
    return a
