"""Real-time loop of the simulated G1: physics thread + render thread, no ROS.

Physics runs in one thread on a monotonic-clock schedule (500 Hz by default):
each step applies the latest commands, steps MuJoCo, and hands the LowState to
`on_lowstate` (the node publishes it from this thread, so /lowstate keeps the
physics rate). Every 1/camera_rate of simulated time it copies a snapshot
(qpos, mocap poses) into a one-slot mailbox and stamps it with the wall clock:
that is the frame's capture time. The render thread draws the newest snapshot
with its own MjData and GL context; MuJoCo releases the GIL while stepping and
rendering, so the two threads overlap on two cores. A render that falls behind
drops frames instead of delaying physics.

If the loop falls more than `max_lag` behind the wall clock (machine busy),
it skips ahead instead of bursting, and counts it as an overrun.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from psi0_sim.camera import CameraRenderer
from psi0_sim.robot import SIDES, G1Sim, HandStateData, LowStateData
from psi0_sim.task import TaskStatus
from psi0_common.realtime import shorten_gil_switch_interval

MAX_LAG = 0.05  # s


@dataclass
class Frame:
    image: np.ndarray      # (H, W, 3) uint8 RGB
    stamp_ns: int          # wall-clock capture time (when the snapshot was taken)
    sim_time: float
    render_ms: float


class RateMeter:
    """Events per second over a sliding window of wall time."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._t: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._t.append(now)
            while self._t and now - self._t[0] > self.window:
                self._t.popleft()

    def rate(self) -> float:
        with self._lock:
            if len(self._t) < 2:
                return 0.0
            span = self._t[-1] - self._t[0]
            return (len(self._t) - 1) / span if span > 0 else 0.0


class SimRuntime:
    def __init__(self, sim: G1Sim,
                 on_lowstate: Callable[[LowStateData], None] | None = None,
                 on_hand_state: Callable[[str, HandStateData], None] | None = None,
                 on_frame: Callable[[Frame], None] | None = None,
                 on_task: Callable[[TaskStatus], None] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns):
        self.sim = sim
        self.cfg = sim.cfg
        self.on_lowstate = on_lowstate
        self.on_hand_state = on_hand_state
        self.on_frame = on_frame
        self.on_task = on_task
        self.clock_ns = clock_ns
        self._stop = threading.Event()
        self._snap_cv = threading.Condition()
        self._snap: tuple[dict, int] | None = None
        self._reset_req: tuple[int, str] | None = None
        self._reset_done = threading.Event()
        self._reset_result: tuple[bool, str, int] = (False, "", 0)
        self._threads: list[threading.Thread] = []
        self.physics_rate = RateMeter()
        self.frame_rate = RateMeter()
        self.overruns = 0
        self.frames_dropped = 0
        self.render_error: str | None = None
        self.physics_error: str | None = None
        self._rtf = 0.0
        self._last_task: TaskStatus | None = None

    # -------------------------------------------------------------- control
    def start(self) -> None:
        # The physics thread takes the GIL back after every mj_step; keep it from starving the callbacks.
        shorten_gil_switch_interval()
        self._threads = [threading.Thread(target=self._physics_loop, name="sim-physics", daemon=True)]
        if self.cfg.camera_enabled and self.on_frame is not None:
            self._threads.append(threading.Thread(target=self._render_loop, name="sim-render", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._snap_cv:
            self._snap_cv.notify_all()
        for t in self._threads:
            t.join(timeout)

    def request_reset(self, seed: int, task: str = "", timeout: float = 2.0) -> tuple[bool, str, int]:
        """Ask the physics thread to reset; wait for it. Returns (ok, message, seed used)."""
        self._reset_done.clear()
        self._reset_req = (seed, task)
        if not self._threads or not self._threads[0].is_alive():
            self._do_reset()
        if not self._reset_done.wait(timeout):
            return False, "physics thread did not reset in time", 0
        return self._reset_result

    @property
    def real_time_factor(self) -> float:
        return self._rtf

    @property
    def last_task(self) -> TaskStatus | None:
        return self._last_task

    # ------------------------------------------------------------- internals
    def _do_reset(self) -> None:
        req, self._reset_req = self._reset_req, None
        if req is None:
            return
        seed, task = req
        try:
            with self.sim.lock:
                used = self.sim.reset(None if seed < 0 else seed, task or None)
            self._reset_result = (True, f"reset {self.sim.task.name} with seed {used}", used)
        except ValueError as exc:
            self._reset_result = (False, str(exc), 0)
        self._reset_done.set()

    def _physics_loop(self) -> None:
        try:
            self._physics()
        except Exception as exc:  # reported in diagnostics; the node keeps its services up
            self.physics_error = f"physics thread stopped: {type(exc).__name__}: {exc}"

    def _physics(self) -> None:
        sim, cfg = self.sim, self.cfg
        dt = cfg.dt
        hand_every = max(1, round(cfg.physics_rate / cfg.hand_state_rate))
        task_every = max(1, round(cfg.physics_rate / cfg.task_state_rate))
        frame_period = 1.0 / cfg.camera_rate
        next_frame = sim.data.time
        step = 0
        wall0, sim0 = time.monotonic(), sim.data.time
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self._reset_req is not None:
                self._do_reset()
                next_frame = sim.data.time
                wall0, sim0 = time.monotonic(), sim.data.time
            with sim.lock:
                sim.step()
                step += 1
                ls = sim.lowstate() if step % cfg.lowstate_decimation == 0 else None
                hands = {s: sim.hand_state(s) for s in SIDES} if step % hand_every == 0 else None
                task = sim.task_status() if step % task_every == 0 else None
                snap = None
                if sim.data.time + 1e-9 >= next_frame:
                    next_frame += frame_period
                    snap = sim.snapshot()
            if snap is not None and self.on_frame is not None and cfg.camera_enabled:
                with self._snap_cv:
                    if self._snap is not None:
                        self.frames_dropped += 1
                    self._snap = (snap, self.clock_ns())
                    self._snap_cv.notify()
            self.physics_rate.tick()
            if ls is not None and self.on_lowstate is not None:
                self.on_lowstate(ls)
            if hands is not None and self.on_hand_state is not None:
                for s in SIDES:
                    self.on_hand_state(s, hands[s])
            if task is not None:
                self._last_task = task
                if self.on_task is not None:
                    self.on_task(task)
            now = time.monotonic()
            if now - wall0 > 0.5:
                self._rtf = (sim.data.time - sim0) / (now - wall0)
                wall0, sim0 = now, sim.data.time
            if not cfg.real_time:
                continue
            next_t += dt
            delay = next_t - now
            if delay > 0:
                time.sleep(delay)
            elif delay < -MAX_LAG:
                self.overruns += 1
                next_t = now

    def _render_loop(self) -> None:
        try:
            renderer = CameraRenderer(self.sim.model, self.cfg.camera_width, self.cfg.camera_height)
        except Exception as exc:  # no GL: report it, keep physics running
            self.render_error = f"head camera renderer could not start: {exc}"
            return
        try:
            while not self._stop.is_set():
                with self._snap_cv:
                    while self._snap is None and not self._stop.is_set():
                        self._snap_cv.wait(0.2)
                    if self._stop.is_set():
                        break
                    snap, stamp = self._snap
                    self._snap = None
                t0 = time.perf_counter()
                image = renderer.render(snap)
                frame = Frame(image, stamp, float(snap["time"]), (time.perf_counter() - t0) * 1000.0)
                self.frame_rate.tick()
                self.on_frame(frame)
        except Exception as exc:
            self.render_error = f"head camera rendering stopped: {type(exc).__name__}: {exc}"
        finally:
            renderer.close()
