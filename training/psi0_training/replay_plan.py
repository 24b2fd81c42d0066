"""What `psi0 replay` publishes and when, without ROS: topic selection and the timing schedule."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Maps bag receive times (ns) to wall-clock deadlines (time.monotonic seconds)."""

    bag_start_ns: int
    wall_start: float
    rate: float

    def deadline(self, bag_ns: int) -> float:
        return self.wall_start + (bag_ns - self.bag_start_ns) / 1e9 / self.rate

    def wait(self, bag_ns: int, stop=None) -> bool:
        """Sleep until the message is due; False when `stop` (a threading.Event) was set meanwhile."""
        while True:
            left = self.deadline(bag_ns) - time.monotonic()
            if stop is not None and stop.is_set():
                return False
            if left <= 0:
                return True
            time.sleep(min(left, 0.05))


def select_topics(available: dict[str, str], wanted: list[str] | None) -> dict[str, str]:
    """topic -> type of the topics to replay; unknown requested topics raise ValueError."""
    if not wanted:
        return dict(available)
    unknown = [t for t in wanted if t not in available]
    if unknown:
        raise ValueError(f"topics not in the bag: {', '.join(unknown)}; the bag has: {', '.join(sorted(available))}")
    return {t: available[t] for t in wanted}
