"""Put every stream on one fixed-rate grid driven by the camera clock, and measure what that cost.

Clocks: a stream with headers is timed by its header stamps, except stamps
that are zero or whose offset to their receive time departs from the
stream's median offset by more than `clock_jump_s` (a camera clock jump, a
driver restart): those fall back to receive time minus the median offset.
Streams without headers (LowState, HandState) are timed by receive time.

Grid: ticks at t0 + k / fps from the first camera frame, trimmed to the span
where every feature has data (within its tolerance). Each feature picks its
sample per tick by its fill policy; a tick whose sample is further than the
tolerance is a gap (it still holds the nearest value, and is counted).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_training.data.config import FeatureTiming

SLACK_NS = 1_000


@dataclass
class Timed:
    t_ns: np.ndarray           # effective sample times, sorted
    order: np.ndarray          # arrival index of each sorted sample
    fallback: int              # header stamps replaced by receive time
    skew_median_s: float       # median (receive - header), s
    skew_p99_s: float          # 99th percentile |(receive - header) - median|, s (jumps excluded)


def effective_times(recv_ns: np.ndarray, header_ns: np.ndarray | None, jump_s: float) -> Timed:
    recv_ns = np.asarray(recv_ns, np.int64)
    if header_ns is None or len(header_ns) == 0:
        order = np.argsort(recv_ns, kind="stable")
        return Timed(recv_ns[order], order, 0, float("nan"), float("nan"))
    header_ns = np.asarray(header_ns, np.int64)
    skew = recv_ns - header_ns
    valid = header_ns > 0
    med = int(np.median(skew[valid])) if valid.any() else 0
    bad = ~valid | (np.abs(skew - med) > jump_s * 1e9)
    t = np.where(bad, recv_ns - med, header_ns)
    order = np.argsort(t, kind="stable")
    good = skew[~bad]
    p99 = float(np.percentile(np.abs(good - med), 99)) / 1e9 if good.size else float("nan")
    return Timed(t[order], order, int(bad.sum()), med / 1e9, p99)


def make_grid(camera_t: np.ndarray, fps: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """Tick times (ns): the camera's first frame inside every feature's span, then every 1/fps."""
    lo = max([camera_t[0]] + [a for a, _ in spans])
    hi = min([camera_t[-1]] + [b for _, b in spans])
    first = camera_t[np.searchsorted(camera_t, lo)] if lo <= camera_t[-1] else lo
    if hi < first:
        return np.zeros(0, np.int64)
    n = int(np.floor((hi - first) * fps / 1e9 + 1e-9)) + 1
    return first + np.round(np.arange(n) * (1e9 / fps)).astype(np.int64)


@dataclass
class Aligned:
    index: np.ndarray          # chosen sample (sorted order) per tick; for linear, the left neighbour
    dist_s: np.ndarray         # distance to the chosen sample(s) per tick
    gap: np.ndarray            # dist beyond tolerance
    values: np.ndarray | None  # (ticks, dim) when values were given


def align(t_ns: np.ndarray, ticks: np.ndarray, timing: FeatureTiming, values: np.ndarray | None = None) -> Aligned:
    n = len(t_ns)
    if n == 0:
        raise ValueError("cannot align an empty stream")
    # 1 us of slack: a sample stamped at the tick up to rounding counts as "at or before" it.
    right = np.searchsorted(t_ns, ticks + SLACK_NS, side="right")
    prev = np.clip(right - 1, 0, n - 1)
    nxt = np.clip(right, 0, n - 1)
    d_prev = np.abs(ticks - t_ns[prev]).astype(np.float64)
    d_prev[right == 0] = np.inf                       # nothing at or before the tick
    d_next = np.abs(t_ns[nxt] - ticks).astype(np.float64)
    d_next[right >= n] = np.inf
    if timing.policy == "previous":
        idx = np.where(right == 0, 0, prev)
        dist = d_prev
    elif timing.policy == "nearest":
        take_next = d_next < d_prev
        idx = np.where(take_next, nxt, prev)
        dist = np.minimum(d_prev, d_next)
    else:  # linear
        idx = prev
        dist = np.minimum(d_prev, d_next)
    dist_s = dist / 1e9
    out = None
    if values is not None:
        if timing.policy == "linear":
            tf = (t_ns - t_ns[0]).astype(np.float64)
            xf = (ticks - t_ns[0]).astype(np.float64)
            out = np.stack([np.interp(xf, tf, values[:, j]) for j in range(values.shape[1])], axis=1)
        else:
            out = values[idx]
    return Aligned(idx, dist_s, dist_s > timing.tolerance_s, out)


def longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def feature_quality(name: str, topic: str, timed: Timed, al: Aligned, ticks: np.ndarray, fps: int,
                    timing: FeatureTiming, bad_messages: int) -> dict:
    """Held / dropped / gap figures of one feature on the grid."""
    n = len(timed.t_ns)
    held = int((al.index[1:] == al.index[:-1]).sum()) if timing.policy != "linear" else 0
    if len(ticks):
        half = 0.5e9 / fps   # samples within half a period of the grid's ends belong to it
        lo, hi = ticks[0] - half, ticks[-1] + half
        in_span = int(((timed.t_ns >= lo) & (timed.t_ns <= hi)).sum())
    else:
        in_span = 0
    used = int(np.unique(al.index).size) if timing.policy != "linear" else in_span
    duration = (timed.t_ns[-1] - timed.t_ns[0]) / 1e9 if n > 1 else 0.0
    return {
        "topic": topic, "policy": timing.policy, "tolerance_s": timing.tolerance_s,
        "samples": n, "source_hz": round((n - 1) / duration, 3) if duration > 0 else 0.0,
        "bad_messages": bad_messages,
        "held_frames": held, "dropped_samples": max(0, in_span - used),
        "gap_frames": int(al.gap.sum()), "max_gap_s": longest_run(al.gap) / fps,
        "max_dist_s": float(np.max(al.dist_s[np.isfinite(al.dist_s)], initial=0.0)),
        "clock_fallback": timed.fallback,
        "clock_skew_median_s": None if np.isnan(timed.skew_median_s) else timed.skew_median_s,
        "clock_skew_p99_s": None if np.isnan(timed.skew_p99_s) else timed.skew_p99_s,
    }
