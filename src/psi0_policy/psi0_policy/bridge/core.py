"""The bridge's core: safety state machine + command shaping, clock-injected.

Every method takes `now` (seconds, any monotonic clock), so tests drive it
tick by tick with a fake clock. The node feeds it messages as plain arrays
and publishes what `tick` / `hand_tick` return. Not thread-safe by itself:
the node calls it under one lock.

States (docs/bridge.md has the diagram):
  INIT     no LowState yet: nothing is sent.
  RAMP     from the measured pose to the current command over ramp_duration.
  ACTIVE   following fresh actions.
  HOLD     no action yet, or none for > action_hold_timeout: keep the pose,
           base velocities zero.
  DAMPING  kp 0, kd damping_kd: action lost > action_damping_timeout, LowState
           lost / non-finite, tilt, joint or pelvis speed too high, backend
           failure. Latched until reset().
  ESTOP    e-stop: damping at once, latched until reset().
  BLOCKED  another node publishes /lowcmd: nothing is sent until it is gone,
           then INIT -> RAMP again.
"""
from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from psi0_common import action_layout as al
from psi0_common import g1
from psi0_common.unitree_codec import LowCmdData

from psi0_policy.bridge import shaping
from psi0_policy.bridge.backends import BaseCommand, make_backend
from psi0_policy.bridge.config import SOURCE_NAMES, BridgeConfig
from psi0_policy.bridge.robot import HandCommand, HandState, RobotState, body_lowcmd

SIDES = ("left", "right")
HAND_SLICES = {"left": al.LEFT_HAND, "right": al.RIGHT_HAND}


class State(str, enum.Enum):
    INIT = "INIT"
    RAMP = "RAMP"
    ACTIVE = "ACTIVE"
    HOLD = "HOLD"
    DAMPING = "DAMPING"
    ESTOP = "ESTOP"
    BLOCKED = "BLOCKED"


LATCHED = (State.DAMPING, State.ESTOP)
DRIVING = (State.RAMP, State.ACTIVE, State.HOLD)


@dataclass
class TickOutput:
    state: State
    lowcmd: LowCmdData | None = None        # None: send nothing
    body_q: np.ndarray | None = None        # the 29 commanded positions (None when damping / silent)
    base: BaseCommand | None = None         # for the sim's kinematic base (kinematic backend)
    damping: bool = False


@dataclass
class Status:
    state: State
    reason: str
    source: str
    driving_source: str
    rejected: int
    last_rejection: str
    ignored: dict = field(default_factory=dict)
    other_writers: tuple = ()
    loop_period_p50: float = 0.0
    loop_period_p99: float = 0.0
    loop_period_max: float = 0.0
    ticks: int = 0


class Bridge:
    def __init__(self, cfg: BridgeConfig, backend=None):
        self.cfg = cfg
        self.backend = backend if backend is not None else make_backend(cfg)
        self.caps = cfg.body_velocity_caps()
        self.kp = np.asarray(cfg.body_kp, float)
        self.kd = np.asarray(cfg.body_kd, float)
        self.state = State.INIT
        self.reason = "waiting for LowState"
        self.transitions: list[tuple[float, State, str]] = []
        self.lowstate: RobotState | None = None
        self.hands: dict[str, HandState | None] = {s: None for s in SIDES}
        self.action: np.ndarray | None = None       # last valid action, clamped
        self.action_time: float | None = None
        self.action_source = ""
        self.rejected = 0
        self.last_rejection = ""
        self.ignored: Counter = Counter()
        self.other_writers: tuple[str, ...] = ()
        self._prev_q: np.ndarray | None = None
        self._ramp_start: np.ndarray | None = None
        self._ramp_t0 = 0.0
        self._hand_prev: dict[str, np.ndarray | None] = {s: None for s in SIDES}
        self._hand_ramp: dict[str, tuple[np.ndarray, float] | None] = {s: None for s in SIDES}
        self._last_tick: float | None = None
        self._fresh_since: float | None = None  # LowState has arrived without a gap since then
        self.periods: deque[float] = deque(maxlen=1000)
        self.ticks = 0

    # -- inputs ----------------------------------------------------------------------------------
    def on_lowstate(self, state: RobotState) -> None:
        self.lowstate = state

    def on_hand_state(self, side: str, q, now: float) -> None:
        self.hands[side] = HandState(now, np.asarray(q, float))

    def on_action(self, action, source: int, now: float) -> bool:
        """Accept a 36-D action from `source`; False (and counted) if ignored or rejected."""
        name = SOURCE_NAMES.get(int(source), f"source {int(source)}")
        if not self.cfg.accepts(source):
            self.ignored[name] += 1
            return False
        try:
            a = al.validate_action(action)
        except ValueError as exc:
            self.rejected += 1
            self.last_rejection = f"{name}: {exc}"
            return False
        self.action = shaping.clamp_action(a, self.cfg)
        self.action_time = now
        self.action_source = name
        return True

    def estop(self, now: float, reason: str = "e-stop") -> None:
        if self.state != State.ESTOP:
            self._enter(State.ESTOP, reason, now)

    def reset(self, now: float) -> tuple[bool, str]:
        """Leave ESTOP / DAMPING: only with a fresh, sane LowState; then ramp from the measured pose."""
        if self.state not in LATCHED:
            return False, f"nothing to reset: state is {self.state.value}"
        fault = self._fault(now)
        if fault:
            return False, f"cannot reset: {fault}"
        self.action = None
        self.action_time = None
        self._enter(State.INIT, "reset", now)
        return True, "reset: ramping from the measured pose"

    def set_other_writers(self, names, now: float) -> None:
        """Publishers of /lowcmd other than this bridge (the node looks them up)."""
        self.other_writers = tuple(names)
        if self.other_writers and self.state not in (State.BLOCKED, State.ESTOP):
            self._enter(State.BLOCKED, "another node publishes /lowcmd: " + ", ".join(self.other_writers)
                        + "; refusing to drive", now)
        elif not self.other_writers and self.state == State.BLOCKED:
            self._enter(State.INIT, "the other /lowcmd publisher is gone", now)

    # -- the body command loop ---------------------------------------------------------------------
    def tick(self, now: float, scheduled: bool = True) -> TickOutput:
        if scheduled:
            if self._last_tick is not None:
                self.periods.append(now - self._last_tick)
            self._last_tick = now
            self.ticks += 1
        st = self.lowstate
        fresh = st is not None and now - st.stamp <= self.cfg.lowstate_timeout
        self._fresh_since = (self._fresh_since if self._fresh_since is not None else now) if fresh else None
        if self.other_writers and self.state not in (State.BLOCKED, State.ESTOP):
            self.set_other_writers(self.other_writers, now)
        if self.state == State.BLOCKED or (self.state == State.INIT and not fresh):
            return self._silent(st)  # INIT: not driving yet, so a gap is no fault: wait for LowState
        if self.state not in LATCHED:
            fault = self._fault(now)
            if fault:
                self._enter(State.DAMPING, fault, now)
        if self.state in LATCHED:
            return self._damping_output()
        if self.state == State.INIT:
            if now - self._fresh_since < self.cfg.startup_settle:
                return self._silent(st)
            self._start_ramp(st, now)
        try:
            return self._drive(st, now)
        except Exception as exc:  # a backend that fails must not leave the robot on a stale target
            self._enter(State.DAMPING, f"{self.backend.name} backend failed: {exc}", now)
            return self._damping_output()

    def _drive(self, st: RobotState, now: float) -> TickOutput:
        self._update_driving_state(now)
        if self.state in LATCHED:
            return self._damping_output()
        action = self._desired_action()
        target = np.empty(g1.NUM_BODY)
        target[g1.LOWER_BODY] = self.backend.lower_body(st, action, now)
        target[g1.LEFT_ARM] = action[al.LEFT_ARM]
        target[g1.RIGHT_ARM] = action[al.RIGHT_ARM]
        if self.state == State.RAMP:
            elapsed = now - self._ramp_t0
            target = shaping.ramp(self._ramp_start, shaping.clamp_to_limits(target, shaping.BODY_LIMITS),
                                  elapsed, self.cfg.ramp_duration)
        q = shaping.shape_body(target, self._prev_q, self.caps, self.cfg.period)
        if not np.isfinite(q).all():
            self._enter(State.DAMPING, "non-finite joint target", now)
            return self._damping_output()
        self._prev_q = q
        base = self.backend.base_command(action if self.state == State.ACTIVE else shaping.stopped(action), q)
        return TickOutput(self.state, body_lowcmd(q, self.kp, self.kd, st.mode_machine), q, base)

    def _update_driving_state(self, now: float) -> None:
        age = None if self.action_time is None else now - self.action_time
        if age is not None and age > self.cfg.action_damping_timeout:
            self._enter(State.DAMPING, f"no valid action for {age:.2f} s", now)
            return
        if self.state == State.RAMP:
            if now - self._ramp_t0 < self.cfg.ramp_duration:
                return
        if age is None:
            self._set(State.HOLD, "waiting for the first action", now)
        elif age > self.cfg.action_hold_timeout:
            self._set(State.HOLD, f"no valid action for {age:.2f} s", now)
        else:
            self._set(State.ACTIVE, f"driven by {self.action_source}", now)

    def _desired_action(self) -> np.ndarray:
        if self.action is None:
            return al.standing_action()
        if self.state != State.ACTIVE:
            return shaping.stopped(self.action)
        return self.action

    def _fault(self, now: float) -> str:
        st = self.lowstate
        if st is None:
            return "no LowState"
        age = now - st.stamp
        if age > self.cfg.lowstate_timeout:
            return f"no LowState for {age * 1e3:.0f} ms"
        problem = st.problem()
        if problem:
            return problem
        tilt = st.tilt()
        if tilt > self.cfg.max_tilt:
            return f"pelvis tilt {tilt:.2f} rad > {self.cfg.max_tilt:.2f}"
        speed = np.abs(st.dq)
        if speed.max() > self.cfg.max_joint_velocity:
            j = int(speed.argmax())
            return f"{g1.BODY_NAMES[j]} moves at {speed[j]:.1f} rad/s > {self.cfg.max_joint_velocity:.1f}"
        w = float(np.linalg.norm(st.gyro))
        if w > self.cfg.max_angular_velocity:
            return f"pelvis turns at {w:.1f} rad/s > {self.cfg.max_angular_velocity:.1f}"
        return ""

    def _start_ramp(self, st: RobotState, now: float) -> None:
        self._ramp_start = shaping.clamp_to_limits(st.q.astype(float), shaping.BODY_LIMITS)
        self._ramp_t0 = now
        self._prev_q = None
        for side in SIDES:
            self._hand_prev[side] = None
            self._hand_ramp[side] = None
        self.backend.reset(st)
        self._enter(State.RAMP, f"ramping from the measured pose over {self.cfg.ramp_duration:.1f} s", now)

    def damping_output(self) -> TickOutput:
        """The damping command for the latest LowState (also the node's last resort on an internal error)."""
        return self._damping_output()

    def _damping_output(self) -> TickOutput:
        st = self.lowstate
        self._prev_q = None
        q = st.q if st is not None and np.isfinite(st.q).all() else np.zeros(g1.NUM_BODY)
        mode_machine = st.mode_machine if st is not None else 0
        kd = np.full(g1.NUM_BODY, self.cfg.damping_kd)
        cmd = body_lowcmd(q, np.zeros(g1.NUM_BODY), kd, mode_machine)
        return TickOutput(self.state, cmd, None, self._stop_base(), damping=True)

    def _silent(self, st: RobotState | None) -> TickOutput:
        return TickOutput(self.state, None, None, self._stop_base() if st is not None else None)

    def _stop_base(self) -> BaseCommand | None:
        """Zero base velocity at the measured leg height (kinematic backend only)."""
        st = self.lowstate
        if st is None or not np.isfinite(st.q).all():
            return None
        return self.backend.base_command(shaping.stopped(al.standing_action()), st.q)

    # -- hands --------------------------------------------------------------------------------------
    def hand_tick(self, now: float) -> dict[str, HandCommand | None]:
        return {side: self._hand_command(side, now) for side in SIDES}

    def _hand_command(self, side: str, now: float) -> HandCommand | None:
        hs = self.hands[side]
        if hs is None or self.state in (State.INIT, State.BLOCKED):
            return None
        limp = (self.state in LATCHED or now - hs.stamp > self.cfg.hand_state_timeout
                or hs.q.shape != (g1.NUM_HAND,) or not np.isfinite(hs.q).all())
        cmd = HandCommand()
        if limp:
            self._hand_prev[side] = None
            self._hand_ramp[side] = None
            cmd.q = hs.q.copy() if np.isfinite(hs.q).all() and hs.q.shape == (g1.NUM_HAND,) else cmd.q
            cmd.kd[:] = self.cfg.hand_damping_kd
            return cmd
        if self._hand_ramp[side] is None:
            self._hand_ramp[side] = (hs.q.copy(), now)
        start, t0 = self._hand_ramp[side]
        target = start if self.action is None else self.action[HAND_SLICES[side]]
        target = shaping.ramp(start, shaping.clamp_to_limits(target, shaping.HAND_LIMITS[side]), now - t0,
                              self.cfg.ramp_duration)
        cmd.q = shaping.shape_hand(side, target, self._hand_prev[side], self.cfg.hand_velocity_cap,
                                   self.cfg.hand_period)
        self._hand_prev[side] = cmd.q
        cmd.kp[:] = self.cfg.hand_kp
        cmd.kd[:] = self.cfg.hand_kd  # per motor (7)
        return cmd

    # -- bookkeeping --------------------------------------------------------------------------------
    def _enter(self, state: State, reason: str, now: float) -> None:
        self.state = state
        self.reason = reason
        self.transitions.append((now, state, reason))

    def _set(self, state: State, reason: str, now: float) -> None:
        if state != self.state:
            self._enter(state, reason, now)
        else:
            self.reason = reason

    def still_sendable(self, out: TickOutput) -> bool:
        """Whether a command computed earlier may still go out now: never a driving command once an
        e-stop or damping latched in between (that path has sent damping already)."""
        return out.damping or self.state not in LATCHED

    def status(self) -> Status:
        p = np.array(self.periods) if self.periods else np.zeros(1)
        driving = self.action_source if self.state == State.ACTIVE else ""
        return Status(self.state, self.reason, self.cfg.source, driving, self.rejected, self.last_rejection,
                      dict(self.ignored), self.other_writers, float(np.percentile(p, 50)),
                      float(np.percentile(p, 99)), float(p.max()), self.ticks)
