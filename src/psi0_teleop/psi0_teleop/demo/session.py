"""Episode-synchronized playback of planned demonstrations (ROS-free core of scripted_operator).

`EpisodeWatch` turns the sim's TaskState stream (task, seed, elapsed) into
"a new episode started" events: a seed change, or the elapsed time going
backwards (a reset with the same seed). `DemoSession` holds one episode's
plan and its synthetic operator: it stays silent for `start_delay` after the
reset (longer than the teleop's 0.5 s jump window, so the new operator's
first sample is not compared with the last episode's), then plays the plan;
it says when to calibrate (first episode only) and when to engage the teleop.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from psi0_sim.layout import sample_layout
from psi0_teleop.config import ConfigError
from psi0_teleop.demo.planner import Plan, PlanParams, plan_demo
from psi0_teleop.demo.feedback import CorrectedOperator, FeedbackParams
from psi0_teleop.demo.config import ScriptedOperatorConfig


@dataclass
class EpisodeWatch:
    """Detects episode starts in a TaskState stream."""
    seed: int | None = None
    elapsed: float = 0.0

    def update(self, seed: int, elapsed: float) -> bool:
        new = self.seed is None or seed != self.seed or elapsed + 0.3 < self.elapsed
        self.seed, self.elapsed = int(seed), float(elapsed)
        return new


@dataclass
class BaseOdometry:
    """Dead-reckoned base displacement from the base velocity commands (robot frame vx, vy, yaw rate), the way
    psi0_sim's kinematic base moves: each command holds until the next one or `timeout`."""
    timeout: float = 0.5
    xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    yaw: float = 0.0
    _last: tuple | None = None      # (time, vx, vy, yaw rate)

    def reset(self) -> None:
        self.xy, self.yaw, self._last = np.zeros(2), 0.0, None

    def command(self, t: float, vx: float, vy: float, yaw_rate: float) -> None:
        if self._last is not None:
            t0, vx0, vy0, w0 = self._last
            dt = min(max(t - t0, 0.0), self.timeout)
            c, s = np.cos(self.yaw), np.sin(self.yaw)
            self.xy = self.xy + dt * np.array([c * vx0 - s * vy0, s * vx0 + c * vy0])
            self.yaw += w0 * dt
        self._last = (t, float(vx), float(vy), float(yaw_rate))


@dataclass
class DemoSession:
    """One episode: its plan, its operator and the instants of the teleop service calls."""
    plan: Plan
    operator: CorrectedOperator
    start: float                      # clock time the plan starts
    calls_done: set = field(default_factory=set)

    @classmethod
    def create(cls, task: str, seed: int, now: float, cfg: ScriptedOperatorConfig, reference,
               params: PlanParams = PlanParams()) -> "DemoSession":
        try:
            layout = sample_layout(task, seed)
        except ValueError as exc:
            raise ConfigError(f"scripted operator: {exc}") from exc
        plan = plan_demo(layout, dataclasses.replace(params, tempo=cfg.tempo))
        fb = FeedbackParams(gain=cfg.feedback_gain, limit=cfg.feedback_limit)
        op = CorrectedOperator(plan.segments, seed=cfg.operator_seed, rate_hz=cfg.device_rate_hz,
                               robot_reference=reference, feedback=fb, expected_base=plan.expected_base)
        return cls(plan, op, now + cfg.start_delay)

    def poll(self, now: float):
        """Samples to publish now (none before the start)."""
        if now < self.start:
            return [], []
        return self.operator.poll(now)

    def due_calls(self, now: float) -> list[str]:
        """'calibrate' / 'engage' once each when their plan instant has passed."""
        out = []
        t = now - self.start
        for name, at in (("calibrate", self.plan.calibrate_at), ("engage", self.plan.engage_at)):
            if t >= at and name not in self.calls_done:
                self.calls_done.add(name)
                out.append(name)
        return out

    def feedback(self, palms: dict, now: float, last: float | None) -> None:
        """Measured robot-frame palm positions (forward kinematics of /lowstate)."""
        if now >= self.start and last is not None:
            self.operator.feedback(palms, now - last)

    def base_odometry(self, xy) -> None:
        """The robot base's displacement since the reset (episode-start frame)."""
        self.operator.set_base(xy)

    def done(self) -> bool:
        return self.operator.done()
