"""Clocks for the RTC runtime: the real monotonic clock and a fake one for tests/benchmarks.

A clock with `simulated = True` has no notion of compute time: an inference
takes exactly its injected latency in clock time, and the runtime waits for
the worker thread when a result is due, so runs are deterministic.
"""
from __future__ import annotations

import threading
import time


class MonotonicClock:
    simulated = False

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        """Sleep until monotonic time t: coarse sleep, then a short spin for the last 0.3 ms."""
        while True:
            left = t - time.monotonic()
            if left <= 0:
                return
            if left > 3e-4:
                time.sleep(left - 2e-4)


class FakeClock:
    """Time moves only when the test calls advance()/set(); sleepers wake when their time comes."""
    simulated = True

    def __init__(self, start: float = 0.0):
        self._t = start
        self._cv = threading.Condition()

    def now(self) -> float:
        with self._cv:
            return self._t

    def set(self, t: float) -> None:
        with self._cv:
            self._t = t
            self._cv.notify_all()

    def advance(self, dt: float) -> float:
        with self._cv:
            self._t += dt
            self._cv.notify_all()
            return self._t

    def sleep_until(self, t: float, timeout: float | None = None) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self._t >= t, timeout=timeout)
