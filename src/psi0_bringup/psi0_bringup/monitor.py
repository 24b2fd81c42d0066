"""Topic-rate bookkeeping for the graph monitor (ROS-free).

The monitor node feeds receive times in; this turns them into rates, gaps
and a verdict per topic, which the node logs and publishes as diagnostics.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from psi0_common import topics
from psi0_common.config import ConfigError, param, validate


@dataclass(frozen=True)
class MonitorConfig:
    topics: list[str] = param([topics.LOWSTATE, topics.IMAGE, topics.ACTION, topics.LOWCMD],
                              "Topics to watch (any message type; resolved from the graph).")
    expected_rates: list[float] = param([450.0, 29.0, 29.0, 45.0],
                                        "Minimum healthy rate per topic in Hz, same order as `topics`; 0 = no check.")
    report_period: float = param(5.0, "Seconds between rate reports in the log and on /diagnostics.",
                                 low=0.2, high=3600.0)
    window: float = param(2.0, "Seconds of receive times a rate is computed over.", low=0.1, high=60.0)

    def __post_init__(self):
        validate(self)
        if len(self.expected_rates) != len(self.topics):
            raise ConfigError(f"MonitorConfig: expected_rates has {len(self.expected_rates)} entries "
                              f"but topics has {len(self.topics)}")


@dataclass(frozen=True)
class TopicReport:
    topic: str
    rate_hz: float
    max_gap_s: float
    count: int
    level: str  # OK | WARN | STALE
    message: str


class RateTracker:
    def __init__(self, topic: str, expected_rate: float, window: float):
        self.topic = topic
        self.expected_rate = expected_rate
        self.window = window
        self.stamps: deque[float] = deque()
        self.count = 0

    def tick(self, now: float) -> None:
        self.stamps.append(now)
        self.count += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self.stamps and self.stamps[0] < now - self.window:
            self.stamps.popleft()

    def report(self, now: float) -> TopicReport:
        self._trim(now)
        s = np.asarray(self.stamps)
        rate = (len(s) - 1) / (s[-1] - s[0]) if len(s) > 2 and s[-1] > s[0] else 0.0
        gap = float(np.diff(s).max()) if len(s) > 1 else float("inf")
        if len(s) == 0:
            level, msg = "STALE", f"no message for {self.window:g} s"
        elif self.expected_rate and rate < self.expected_rate:
            level, msg = "WARN", f"{rate:.1f} Hz < expected {self.expected_rate:g} Hz"
        else:
            level, msg = "OK", f"{rate:.1f} Hz"
        return TopicReport(self.topic, rate, gap, self.count, level, msg)


def format_reports(reports: list[TopicReport]) -> str:
    return ", ".join(f"{r.topic} {r.rate_hz:.1f} Hz" + ("" if r.level == "OK" else f" [{r.level}]")
                     for r in reports)
