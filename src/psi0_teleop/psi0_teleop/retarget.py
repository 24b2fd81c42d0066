"""MANUS glove ergonomics -> Dex3-1 hand joints (7 per hand), with limits and filtering.

Dex3-1 motor order (g1.DEX3_NAMES): thumb_0 (thumb rotation), thumb_1,
thumb_2 (thumb flexion), middle_0, middle_1, index_0, index_1 (flexion).
The Dex3 has three fingers; ring and pinky of the glove are not used.

Each flexion joint is driven by a "closure" in [0, 1] computed from one or
two glove values (normalized between the operator's open-hand and fist
values), then mapped between the joint's open and closed angles. thumb_0
follows the thumb's CMC spread around a neutral value. The left hand is the
reference; the right hand mirrors it: every joint but thumb_0 flips sign
(matching g1.DEX3_RIGHT_LIMITS), so the same glove motion closes both hands.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_common import g1
from psi0_teleop.devices import GloveHandSample, NUM_ERGONOMICS, ergo_index

# Glove sources (ergonomics indices summed) for joints 1..6 of the Dex3.
SOURCES: tuple[tuple[int, ...], ...] = (
    (ergo_index("thumb", 0),),                                   # thumb_0 <- CMC spread
    (ergo_index("thumb", 1),),                                   # thumb_1 <- CMC stretch
    (ergo_index("thumb", 2), ergo_index("thumb", 3)),            # thumb_2 <- MCP + IP stretch
    (ergo_index("middle", 1),),                                  # middle_0 <- MCP stretch
    (ergo_index("middle", 2), ergo_index("middle", 3)),          # middle_1 <- PIP + DIP stretch
    (ergo_index("index", 1),),                                   # index_0 <- MCP stretch
    (ergo_index("index", 2), ergo_index("index", 3)),            # index_1 <- PIP + DIP stretch
)

# Typical operator values (rad) for an open flat hand and a closed power grasp.
DEFAULT_ERGO_OPEN = np.zeros(NUM_ERGONOMICS)
DEFAULT_ERGO_CLOSED = np.zeros(NUM_ERGONOMICS)
for _f, _vals_open, _vals_closed in (
        ("thumb", (0.35, 0.10, 0.05, 0.05), (0.35, 0.60, 0.60, 0.80)),
        ("index", (0.00, 0.05, 0.05, 0.05), (0.00, 1.40, 1.50, 0.90)),
        ("middle", (0.00, 0.05, 0.05, 0.05), (0.00, 1.40, 1.50, 0.90)),
        ("ring", (0.00, 0.05, 0.05, 0.05), (0.00, 1.40, 1.50, 0.90)),
        ("pinky", (0.00, 0.05, 0.05, 0.05), (0.00, 1.40, 1.50, 0.90))):
    for _j in range(4):
        DEFAULT_ERGO_OPEN[ergo_index(_f, _j)] = _vals_open[_j]
        DEFAULT_ERGO_CLOSED[ergo_index(_f, _j)] = _vals_closed[_j]

# Left-hand Dex3 angles (rad) for open and closed; thumb_0 is driven separately.
LEFT_OPEN = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
LEFT_CLOSED = np.array([0.0, 0.9, 1.6, -1.45, -1.65, -1.45, -1.65])
# Mirror: right = MIRROR * left (thumb_0 keeps its sign).
MIRROR = np.array([1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0])
LIMITS = {"left": g1.DEX3_LEFT_LIMITS, "right": g1.DEX3_RIGHT_LIMITS}


def ergonomics_for_closure(c: float) -> np.ndarray:
    """The glove reading of a hand closed by fraction c (0 open, 1 fist), default ranges."""
    return DEFAULT_ERGO_OPEN + float(c) * (DEFAULT_ERGO_CLOSED - DEFAULT_ERGO_OPEN)


@dataclass(frozen=True)
class RetargetParams:
    cutoff_hz: float = 8.0           # first-order low-pass on the joint targets
    max_speed: float = 6.0           # rad/s, rate limit on each joint target
    thumb_rotation_gain: float = 1.5  # thumb_0 rad per rad of CMC spread away from neutral
    ergo_open: tuple = tuple(DEFAULT_ERGO_OPEN)
    ergo_closed: tuple = tuple(DEFAULT_ERGO_CLOSED)


_SOURCE_MATRIX = np.zeros((g1.NUM_HAND, NUM_ERGONOMICS))
for _j, _src in enumerate(SOURCES):
    _SOURCE_MATRIX[_j, list(_src)] = 1.0


def raw_left_targets(ergo: np.ndarray, params: RetargetParams) -> np.ndarray:
    """Unfiltered left-hand Dex3 targets for one glove reading (clipped to the left limits)."""
    ergo = np.asarray(ergo, float)
    if ergo.shape != (NUM_ERGONOMICS,):
        raise ValueError(f"glove ergonomics must have {NUM_ERGONOMICS} values, got shape {ergo.shape}")
    if not np.isfinite(ergo.sum()):
        raise ValueError("glove ergonomics contain non-finite values")
    x = _SOURCE_MATRIX @ ergo
    lo = _SOURCE_MATRIX @ np.asarray(params.ergo_open, float)
    hi = _SOURCE_MATRIX @ np.asarray(params.ergo_closed, float)
    span = hi - lo
    safe = np.where(np.abs(span) > 1e-6, span, 1.0)
    c = np.where(np.abs(span) > 1e-6, np.clip((x - lo) / safe, 0.0, 1.0), 0.0)
    q = LEFT_OPEN + c * (LEFT_CLOSED - LEFT_OPEN)
    q[0] = params.thumb_rotation_gain * (x[0] - lo[0])
    return np.clip(q, g1.DEX3_LEFT_LIMITS[:, 0], g1.DEX3_LEFT_LIMITS[:, 1])


def raw_targets(side: str, ergo: np.ndarray, params: RetargetParams) -> np.ndarray:
    q = raw_left_targets(ergo, params)
    if side == "right":
        q = MIRROR * q
    lim = LIMITS[side]
    return np.clip(q, lim[:, 0], lim[:, 1])


class HandRetargeter:
    """Filtered Dex3 targets for one hand; holds the last value while the glove is invalid."""

    def __init__(self, side: str, params: RetargetParams = RetargetParams()):
        if side not in LIMITS:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.side = side
        self.params = params
        lim = LIMITS[side]
        self.q = np.clip(np.zeros(g1.NUM_HAND), lim[:, 0], lim[:, 1])
        self.last_stamp: float | None = None
        self.target = self.q.copy()
        self._pending: np.ndarray | None = None

    def update(self, hand: GloveHandSample, stamp: float) -> bool:
        """Take a glove reading; False (and the target kept) if it is invalid or malformed."""
        if not hand.valid:
            return False
        ergo = np.asarray(hand.ergonomics, float)
        if ergo.shape != (NUM_ERGONOMICS,) or not np.isfinite(ergo.sum()):
            return False
        self._pending = ergo     # mapped once per control tick in step(), not per glove sample
        self.last_stamp = stamp
        return True

    def step(self, dt: float) -> np.ndarray:
        """Advance the filter by dt seconds towards the latest target."""
        if self._pending is not None:
            self.target = raw_targets(self.side, self._pending, self.params)
            self._pending = None
        if dt <= 0:
            return self.q.copy()
        alpha = 1.0 - np.exp(-2 * np.pi * self.params.cutoff_hz * dt)
        dq = alpha * (self.target - self.q)
        lim = self.params.max_speed * dt
        self.q = self.q + np.clip(dq, -lim, lim)
        bounds = LIMITS[self.side]
        self.q = np.clip(self.q, bounds[:, 0], bounds[:, 1])
        return self.q.copy()

    def reset(self, q=None) -> None:
        bounds = LIMITS[self.side]
        self.q = np.clip(np.zeros(g1.NUM_HAND) if q is None else np.asarray(q, float), bounds[:, 0], bounds[:, 1])
        self.target = self.q.copy()
        self._pending = None
