"""Process settings for nodes that run a real-time thread in Python (ROS-free)."""
from __future__ import annotations

import gc
import sys

import numpy as np

# A thread that takes the GIL back right after every C call (a 500 Hz physics step, a control tick)
# keeps it for up to Python's default 5 ms switch interval while others wait; measured here: other
# threads of the process stalled up to 0.9 s (sim), and the policy's control tick jitter p99 was 1.2 ms
# at 0.5 ms vs 0.007 ms at 0.1 ms with the same inference throughput. Process-wide.
GIL_SWITCH_INTERVAL = 1e-4


def shorten_gil_switch_interval(interval: float = GIL_SWITCH_INTERVAL) -> None:
    """Make the process hand the GIL over at least every `interval` seconds (never lengthens it)."""
    if sys.getswitchinterval() > interval:
        sys.setswitchinterval(interval)


def freeze_heap() -> int:
    """Collect once, then exclude every object alive now from later garbage collections.

    A node's start-up (rclpy, numpy, torch, the model) leaves ~180k tracked objects; a full (generation 2)
    collection then scans them all with the GIL held: 98 ms measured in the bridge process, a stall for
    every real-time thread of the process. Frozen, they are not scanned again (a full collection then
    takes well under 1 ms). Call once, after construction. Returns the number of frozen objects.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def send_timing(sent) -> dict | None:
    """Timing of a periodic sender from (deadline, sent) pairs, oldest first, in seconds.

    jitter: |(sent_i - sent_{i-1}) - (deadline_i - deadline_{i-1})|, i.e. how far the interval between
    two consecutive messages strayed from the schedule (a skipped deadline is not counted as jitter;
    it shows as lateness); late: sent - deadline. None with fewer than two pairs.
    """
    pairs = np.asarray(list(sent), float).reshape(-1, 2)
    if len(pairs) < 2:
        return None
    deadline, when = pairs[:, 0], pairs[:, 1]
    jitter = np.abs(np.diff(when) - np.diff(deadline))
    late = when - deadline
    return {"jitter_p50": float(np.percentile(jitter, 50)), "jitter_p99": float(np.percentile(jitter, 99)),
            "jitter_max": float(jitter.max()), "late_p50": float(np.percentile(late, 50)),
            "late_p99": float(np.percentile(late, 99)), "late_max": float(late.max()), "n": len(pairs)}
