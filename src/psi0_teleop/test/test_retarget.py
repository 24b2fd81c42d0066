"""Dex3 retargeting: per-hand joint order, mirroring, limits and filtering."""
import numpy as np
import pytest

from psi0_common import g1
from psi0_teleop.devices import GloveHandSample, ergo_index
from psi0_teleop.retarget import (DEFAULT_ERGO_CLOSED, DEFAULT_ERGO_OPEN, HandRetargeter, MIRROR, RetargetParams,
                                  ergonomics_for_closure, raw_targets)

P = RetargetParams()
NAMES = list(g1.DEX3_NAMES)


def close_finger(finger, amount=1.0):
    e = DEFAULT_ERGO_OPEN.copy()
    for j in (1, 2, 3):
        i = ergo_index(finger, j)
        e[i] = DEFAULT_ERGO_OPEN[i] + amount * (DEFAULT_ERGO_CLOSED[i] - DEFAULT_ERGO_OPEN[i])
    return e


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("finger,joints", [("index", ("index_0", "index_1")), ("middle", ("middle_0", "middle_1")),
                                           ("thumb", ("thumb_1", "thumb_2"))])
def test_each_glove_finger_moves_only_its_dex3_joints(side, finger, joints):
    open_q = raw_targets(side, DEFAULT_ERGO_OPEN, P)
    closed_q = raw_targets(side, close_finger(finger), P)
    moved = {NAMES[i] for i in np.flatnonzero(np.abs(closed_q - open_q) > 0.3)}
    assert moved == set(joints)
    limits = g1.DEX3_LEFT_LIMITS if side == "left" else g1.DEX3_RIGHT_LIMITS
    for name in joints:
        i = NAMES.index(name)
        lo, hi = limits[i]
        # Closing goes towards the joint's flexion end: for the left fingers negative, right positive
        # (thumb_1/2 the other way round), i.e. away from 0 into the allowed range.
        assert lo - 1e-9 <= closed_q[i] <= hi + 1e-9
        assert abs(closed_q[i]) > 0.5


@pytest.mark.parametrize("c", [0.0, 0.3, 0.7, 1.0])
def test_right_hand_mirrors_left_and_respects_limits(c):
    e = ergonomics_for_closure(c)
    left, right = raw_targets("left", e, P), raw_targets("right", e, P)
    assert np.allclose(right, MIRROR * left)
    assert np.all(left >= g1.DEX3_LEFT_LIMITS[:, 0]) and np.all(left <= g1.DEX3_LEFT_LIMITS[:, 1])
    assert np.all(right >= g1.DEX3_RIGHT_LIMITS[:, 0]) and np.all(right <= g1.DEX3_RIGHT_LIMITS[:, 1])


def test_flexion_signs_follow_the_g1_tables():
    left = raw_targets("left", ergonomics_for_closure(1.0), P)
    right = raw_targets("right", ergonomics_for_closure(1.0), P)
    for i, name in enumerate(NAMES[1:], start=1):
        # A closed joint sits in the half of its range away from zero that the table allows.
        lo, hi = g1.DEX3_LEFT_LIMITS[i]
        assert np.sign(left[i]) == (1 if hi > abs(lo) else -1), name
        lo, hi = g1.DEX3_RIGHT_LIMITS[i]
        assert np.sign(right[i]) == (1 if hi > abs(lo) else -1), name


def test_extreme_glove_values_are_clipped():
    e = np.full(20, 10.0)
    for side, lim in (("left", g1.DEX3_LEFT_LIMITS), ("right", g1.DEX3_RIGHT_LIMITS)):
        q = raw_targets(side, e, P)
        assert np.all(q >= lim[:, 0]) and np.all(q <= lim[:, 1])


def test_filter_rate_limit_and_hold_on_invalid():
    r = HandRetargeter("left", RetargetParams(cutoff_hz=50.0, max_speed=2.0))
    assert r.update(GloveHandSample(True, ergonomics_for_closure(1.0)), 0.0)
    dt = 0.01
    q1 = r.step(dt)
    assert np.max(np.abs(q1)) <= 2.0 * dt + 1e-9
    for _ in range(300):
        q = r.step(dt)
    assert np.allclose(q, raw_targets("left", ergonomics_for_closure(1.0), r.params), atol=1e-3)
    assert not r.update(GloveHandSample(False, np.zeros(20)), 1.0)          # invalid: hold
    assert np.allclose(r.step(dt), q, atol=1e-6)
    assert not r.update(GloveHandSample(True, np.full(20, np.nan)), 1.1)   # malformed: hold
    assert not r.update(GloveHandSample(True, np.zeros(5)), 1.2)
    assert np.allclose(r.step(dt), q, atol=1e-6)
    with pytest.raises(ValueError):
        HandRetargeter("middle")
