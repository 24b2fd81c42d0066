"""Real-time action chunking runtime (Black et al., "Real-Time Execution of Action
Chunking Flow Policies", Algorithm 1), ROS-free and thread-safe.

Two sides meet under one lock:
- `tick()` is the control clock (30 Hz): it returns the action due now (GETACTION),
  switches to a finished chunk whose result is due, and, once t >= s_min actions of
  the current chunk have run and no inference is in flight, snapshots a request:
  s = t, d = max(recent delays), prefix = the next d not-yet-executed actions
  A_cur[s:s+d] (normalized; never padded).
- a worker thread runs `policy.infer(obs, prefix)` with the lock released.
On arrival the new chunk replaces the current one and t <- ticks since the request
(= t - s while the buffer had actions): the ticks that ran during inference (the
measured delay, in control steps) already used the old chunk's actions, which are
exactly the new chunk's frozen prefix when delay <= d.

Modes: `rtc` (above), `naive` (same timing, no prefix), `sync` (hold the last action
from t = s_min until the new chunk arrives, then start it at index 0).
Degraded cases never raise on the control side: measured delay >= max_delay clamps
the prefix to max_delay - 1 and warns; an empty buffer holds the last action and
counts the tick as dropped; an inference error drops that request and is reported.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

import numpy as np

from psi0_policy.rtc.clock import MonotonicClock
from psi0_policy.rtc.config import RtcConfig

TIME_EPS = 1e-9  # s: a result due within a nanosecond of a tick is taken at that tick (float sums)
SEAM_DIMS = slice(0, 31)  # joint-angle dims of the 36-D action (hands, arms, torso rpy): seam jumps in rad

log = logging.getLogger("psi0.rtc")


class Policy(Protocol):
    def infer(self, obs: Any, prefix_norm: np.ndarray | None) -> np.ndarray: ...   # (H, A) normalized
    def normalize(self, actions: np.ndarray) -> np.ndarray: ...
    def unnormalize(self, chunk_norm: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Request:
    chunk_id: int        # id the resulting chunk will get
    step: int            # global tick at which the request was made
    s: int               # actions of the current chunk executed when inference started
    d: int               # prefix length used (frozen actions)
    d_estimate: int      # max of the delay buffer before clamping
    prefix_norm: np.ndarray | None
    prefix_raw: np.ndarray | None
    obs: Any
    start_time: float
    generation: int = 0  # results of requests made before a reset() are dropped


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    raw: np.ndarray      # (H, A) robot units; raw[:d] equal the committed actions exactly
    norm: np.ndarray     # (H, A) normalized
    start_step: int      # global tick at which raw[0] is due
    d: int               # prefix length that was frozen
    s: int               # steps of the previous chunk executed when inference started
    latency: float       # seconds, request to result (clock time)
    delay_steps: int     # measured: control ticks that ran during inference (-1 for the first chunk)
    obs_stamp: float = 0.0  # clock time of the observation it was conditioned on (Observation.stamp if any)


@dataclass(frozen=True)
class TickOutput:
    step: int
    action: np.ndarray | None   # None before the first chunk
    chunk_id: int
    index: int                  # index inside the chunk (-1 when holding / no action)
    fresh: bool                 # False when holding the last action (dry buffer or sync pause)
    switched: bool              # a new chunk took over at this tick
    seam_jump: float | None     # max |a - a_prev| over joint dims at a switch


@dataclass
class Stats:
    ticks: int = 0
    fresh_ticks: int = 0
    dry_ticks: int = 0          # rtc/naive: ran out of actions, held the last one
    paused_ticks: int = 0       # sync: held while thinking
    waiting_ticks: int = 0      # no chunk yet
    chunks: int = 0
    delay_clamped: int = 0      # requests whose delay estimate reached max_delay
    late_chunks: int = 0        # rtc chunks that arrived after more ticks than their frozen prefix covered
    inference_errors: int = 0
    blocked_starts: int = 0     # ticks where an inference was due but the observation was unusable
    last_chunk_id: int = 0
    last_latency: float = 0.0
    last_delay: int = 0
    last_d: int = 0
    last_s: int = 0
    last_seam_jump: float = 0.0
    max_seam_jump: float = 0.0
    seam_jumps: list = field(default_factory=list)   # |a_switch - a_previous| over joint dims, per switch
    seam_gaps: list = field(default_factory=list)    # |a_switch - old chunk's action for that tick|, per switch
    latencies: list = field(default_factory=list)
    last_error: str = ""        # latest inference error
    message: str = ""           # why no chunk is being started / what degraded, if anything

    @property
    def dropped_ticks(self) -> int:
        return self.dry_ticks + self.paused_ticks


Observe = Callable[[], tuple[Any, str]]   # -> (observation, "") or (None, "why not")


class RtcRuntime:
    def __init__(self, policy: Policy, cfg: RtcConfig, observe: Observe, clock=None,
                 injected_latency: float | Callable[[int], float] = 0.0,
                 on_chunk: Callable[[Chunk], None] | None = None, logger: logging.Logger | None = None):
        """observe() must be cheap (it is called on the control tick). injected_latency (s, or a function of
        the chunk id) delays each result to at least start + latency: benchmarks and tests."""
        self.policy, self.cfg, self.observe = policy, cfg, observe
        self.clock = clock or MonotonicClock()
        self._latency = injected_latency if callable(injected_latency) else (lambda _i, v=injected_latency: v)
        self.on_chunk = on_chunk
        self.log = logger or log
        self._lock = threading.Condition()
        self._delays = collections.deque([cfg.initial_delay], maxlen=cfg.delay_buffer)
        self._chunk: Chunk | None = None
        self._t = 0                       # actions of the current chunk consumed
        self._step = 0                    # global tick counter
        self._last_action: np.ndarray | None = None
        self._in_flight: Request | None = None
        self._done: tuple[Request, Chunk | None, float, str] | None = None  # (request, chunk, ready_at, error)
        self._next_id = 1
        self._generation = 0
        self._switched = False
        self._stop = False
        self.stats = Stats()
        self._worker: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._stop = False
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="psi0-rtc-inference", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None

    def reset(self) -> None:
        """Forget the current chunk and delays (e.g. on deactivate); stats restart."""
        with self._lock:
            self._chunk, self._t, self._last_action, self._done = None, 0, None, None
            self._generation += 1   # an inference still in flight belongs to the old episode: its result is dropped
            self._in_flight = None
            self._delays = collections.deque([self.cfg.initial_delay], maxlen=self.cfg.delay_buffer)
            self.stats = Stats()

    def snapshot(self) -> Stats:
        with self._lock:
            return replace(self.stats, seam_jumps=list(self.stats.seam_jumps), seam_gaps=list(self.stats.seam_gaps),
                           latencies=list(self.stats.latencies))

    @property
    def delay_estimate(self) -> int:
        with self._lock:
            return max(self._delays)

    # ---- control side ----------------------------------------------------------------------------------
    def tick(self) -> TickOutput:
        now = self.clock.now()
        with self._lock:
            if self.clock.simulated:  # deterministic: a result due by now must be taken now
                while self._in_flight is not None and self._due_time(self._in_flight) <= now + TIME_EPS and not self._stop:
                    self._lock.wait(0.05)
            self._step += 1
            self.stats.ticks += 1
            switched = False
            if self._done is not None and self._done[2] <= now + TIME_EPS:
                switched = self._take_result()
            out = self._next_action(switched)
            if switched:
                self._notify_chunk()   # after the switch's action is chosen: its seam jump is in stats
            self._maybe_request(now)
            return out

    def _due_time(self, req: Request) -> float:
        return req.start_time + self._latency(req.chunk_id)

    def _take_result(self) -> bool:
        req, chunk, _, err = self._done
        self._done = None
        if chunk is None:
            self.stats.inference_errors += 1
            self.stats.last_error = err
            self.stats.message = f"inference failed: {err}"
            self.log.error("psi0 rtc: inference for chunk %d failed: %s", req.chunk_id, err)
            return False
        first = self._chunk is None
        if self.stats.message.startswith("inference failed"):
            self.stats.message = ""   # recovered; the count and last_error remain
        # Ticks that ran during inference (executing, holding a dry buffer, or pausing in sync): the measured
        # delay in control steps. The new chunk's row j is due at tick req.step + 1 + j.
        ran = self._step - req.step - 1 if not first else 0
        if self.cfg.mode == "sync" or first:
            ran_index = 0
        else:
            ran_index = ran
            self._delays.append(ran)   # the first chunk (warm-up, cold start) never enters the buffer
        new_chunk = replace(chunk, delay_steps=ran if not first else -1, start_step=self._step - ran_index)
        if not first and self._t < self.cfg.horizon and ran_index < self.cfg.horizon:
            # switch gap: new action vs what the old chunk had planned for this same tick (0 inside the prefix)
            gap = float(np.max(np.abs(new_chunk.raw[ran_index, SEAM_DIMS] - self._chunk.raw[self._t, SEAM_DIMS])))
            self.stats.seam_gaps.append(gap)
        self._chunk = new_chunk
        self._t = ran_index
        st = self.stats
        st.chunks += 1
        st.last_chunk_id = chunk.chunk_id
        st.last_latency, st.last_delay, st.last_d, st.last_s = chunk.latency, ran, req.d, req.s
        st.latencies.append(chunk.latency)
        if self.cfg.mode == "rtc" and not first and ran > req.d:
            st.late_chunks += 1
            if st.late_chunks == 1 or st.late_chunks % 10 == 0:
                self.log.warning("psi0 rtc: chunk %d arrived after %d ticks but only %d actions were frozen "
                                 "(%d such chunks)", chunk.chunk_id, ran, req.d, st.late_chunks)
        return True

    def _notify_chunk(self) -> None:
        if self.on_chunk is not None:
            try:
                self.on_chunk(self._chunk)
            except Exception as exc:  # a publisher error must not stop the control clock
                self.log.error("psi0 rtc: on_chunk callback failed: %s", exc)

    def _next_action(self, switched: bool) -> TickOutput:
        st, ch = self.stats, self._chunk
        if ch is None:
            st.waiting_ticks += 1
            return TickOutput(self._step, None, 0, -1, False, False, None)
        pausing = self.cfg.mode == "sync" and self._t >= self.cfg.s_min and not switched
        if pausing or self._t >= self.cfg.horizon:
            if pausing:
                st.paused_ticks += 1
            else:
                st.dry_ticks += 1
                if st.dry_ticks == 1 or st.dry_ticks % 30 == 0:
                    self.log.warning("psi0 rtc: action buffer ran dry, holding the last action (%d ticks)",
                                     st.dry_ticks)
            hold = self._last_action if self._last_action is not None else ch.raw[-1]
            return TickOutput(self._step, hold.copy(), ch.chunk_id, -1, False, switched, None)
        a = ch.raw[self._t]
        idx = self._t
        self._t += 1
        seam = None
        if switched and self._last_action is not None:
            seam = float(np.max(np.abs(a[SEAM_DIMS] - self._last_action[SEAM_DIMS])))
            st.last_seam_jump = seam
            st.max_seam_jump = max(st.max_seam_jump, seam)
            st.seam_jumps.append(seam)
        self._last_action = a
        st.fresh_ticks += 1
        return TickOutput(self._step, a.copy(), ch.chunk_id, idx, True, switched, seam)

    def _maybe_request(self, now: float) -> None:
        if self._in_flight is not None or self._done is not None or self._stop:
            return
        if self._chunk is not None and self._t < self.cfg.s_min:
            return
        try:
            obs, why = self.observe()
        except Exception as exc:
            obs, why = None, f"observation error: {exc}"
        if obs is None:
            self.stats.blocked_starts += 1
            self.stats.message = f"no new chunk: {why}"
            return
        if self.stats.message.startswith(("no new chunk", "delay estimate")):
            self.stats.message = ""
        cfg = self.cfg
        est = max(self._delays)
        d = 0
        prefix_norm = prefix_raw = None
        s = self._t
        if self._chunk is not None and cfg.mode == "rtc":
            if est >= cfg.max_delay:
                self.stats.delay_clamped += 1
                self.stats.message = (f"delay estimate {est} steps reached the trained maximum {cfg.max_delay}: "
                                      f"prefix clamped to {cfg.max_delay - 1}")
                if self.stats.delay_clamped == 1 or self.stats.delay_clamped % 10 == 0:
                    self.log.warning("psi0 rtc: %s", self.stats.message)
            d = max(0, min(est, cfg.max_delay - 1, cfg.horizon - s))
            if d:
                prefix_norm = self._chunk.norm[s: s + d].copy()
                prefix_raw = self._chunk.raw[s: s + d].copy()
        self._in_flight = Request(self._next_id, self._step, s, d, est, prefix_norm, prefix_raw, obs, now,
                                  self._generation)
        self._next_id += 1
        self._lock.notify_all()

    # ---- inference side --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._stop or (self._in_flight is not None and self._done is None))
                if self._stop:
                    return
                req = self._in_flight
            chunk, err = None, ""
            try:
                chunk = self._run(req)
            except Exception as exc:  # reported on the control side; never kills the worker
                err = f"{type(exc).__name__}: {exc}"
            done_time = self.clock.now()
            ready_at = max(self._due_time(req), req.start_time if self.clock.simulated else done_time)
            if not self.clock.simulated and ready_at > done_time:
                self.clock.sleep_until(ready_at)
            if chunk is not None:
                chunk = replace(chunk, latency=ready_at - req.start_time)
            with self._lock:
                if req.generation == self._generation:
                    self._done = (req, chunk, ready_at, err)
                if self._in_flight is req:
                    self._in_flight = None
                self._lock.notify_all()

    def _run(self, req: Request) -> Chunk:
        norm = np.asarray(self.policy.infer(req.obs, req.prefix_norm), np.float64)
        h = self.cfg.horizon
        if norm.ndim != 2 or norm.shape[0] != h or not np.isfinite(norm).all():
            raise ValueError(f"policy returned {norm.shape} / non-finite values; expected ({h}, A) finite")
        raw = np.asarray(self.policy.unnormalize(norm), np.float64)
        if req.d:
            norm[: req.d] = req.prefix_norm
            raw[: req.d] = req.prefix_raw   # the committed actions, bit for bit
        return Chunk(req.chunk_id, raw, norm, 0, req.d, req.s, 0.0, 0, float(getattr(req.obs, "stamp", 0.0)))


def delay_steps_for(latency: float, hz: float) -> int:
    """Control ticks that run during an inference of `latency` seconds started right after a tick."""
    return max(0, math.ceil(latency * hz - 1e-9) - 1)
