"""The control clock: a thread that calls runtime.tick() at a fixed rate on absolute deadlines.

It measures tick jitter (wake-up time minus deadline) and counts overruns;
a late tick is run once, never in a burst (deadlines that were missed by more
than a period are skipped and counted as missed).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

import numpy as np

from psi0_policy.rtc.clock import MonotonicClock
from psi0_common.realtime import shorten_gil_switch_interval


class ControlLoop:
    def __init__(self, tick: Callable[[], object], hz: float, on_output: Callable[[object], None] | None = None,
                 clock=None, name: str = "psi0-control", keep_jitter: int = 100000, rt_priority: int = 0):
        """rt_priority > 0 runs the control thread under SCHED_FIFO at that priority (Linux, needs
        CAP_SYS_NICE); if that is refused the loop runs normally and `rt_error` says why."""
        self.tick, self.hz, self.on_output = tick, hz, on_output
        self.clock = clock or MonotonicClock()
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.jitter: list[float] = []
        self.missed = 0
        self.errors = 0
        self.keep = keep_jitter
        self.last_error = ""
        self.rt_priority = rt_priority
        self.rt_error = ""

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        shorten_gil_switch_interval()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _set_priority(self) -> None:
        if self.rt_priority <= 0:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_priority))  # 0 = this thread
        except (AttributeError, OSError) as exc:
            self.rt_error = f"SCHED_FIFO {self.rt_priority} refused: {exc}"

    def _run(self) -> None:
        self._set_priority()
        period = 1.0 / self.hz
        deadline = self.clock.now() + period
        while not self._stop.is_set():
            self.clock.sleep_until(deadline)
            late = self.clock.now() - deadline
            with self._lock:
                self.jitter.append(late)
                if len(self.jitter) > self.keep:
                    del self.jitter[: len(self.jitter) - self.keep]
            try:
                out = self.tick()
                if self.on_output is not None:
                    self.on_output(out)
            except Exception as exc:  # the clock keeps running; the error is counted and reported
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            deadline += period
            behind = self.clock.now() - deadline
            if behind > period:
                skip = int(behind // period)
                self.missed += skip
                deadline += skip * period

    def jitter_stats(self) -> dict:
        with self._lock:
            j = np.asarray(self.jitter)
        if j.size == 0:
            return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "missed": self.missed}
        return {"n": int(j.size), "p50_ms": float(np.percentile(j, 50) * 1e3), "p99_ms": float(np.percentile(j, 99) * 1e3),
                "max_ms": float(j.max() * 1e3), "missed": self.missed}
