"""send_timing: the command loop's jitter and lateness from (deadline, sent) pairs."""
import sys

import pytest

from psi0_common.realtime import send_timing, shorten_gil_switch_interval


def test_send_timing_measures_interval_error_and_lateness():
    period = 0.02
    lateness = [0.001, 0.001, 0.004, 0.001, 0.001]  # the third message left 3 ms later than the others
    pairs = [(i * period, i * period + late) for i, late in enumerate(lateness)]
    t = send_timing(pairs)
    assert t["n"] == 5
    assert t["jitter_max"] == pytest.approx(0.003)   # late by 3 ms, then 3 ms early relative to it
    assert t["jitter_p50"] == pytest.approx(0.0015)  # intervals off by 0, 3, 3, 0 ms
    assert t["late_max"] == pytest.approx(0.004)
    assert t["late_p50"] == pytest.approx(0.001)


def test_a_skipped_deadline_is_lateness_not_jitter():
    # Overrun: deadline 2 was skipped; the next message keeps the schedule's phase.
    pairs = [(0.0, 0.0005), (0.02, 0.0205), (0.06, 0.0605), (0.08, 0.0805)]
    t = send_timing(pairs)
    assert t["jitter_max"] == pytest.approx(0.0, abs=1e-12)
    assert t["late_max"] == pytest.approx(0.0005)


def test_send_timing_needs_two_messages():
    assert send_timing([]) is None
    assert send_timing([(0.0, 0.001)]) is None


def test_gil_switch_interval_is_never_lengthened():
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(5e-5)
        shorten_gil_switch_interval(1e-4)
        assert sys.getswitchinterval() == pytest.approx(5e-5)
        sys.setswitchinterval(5e-3)
        shorten_gil_switch_interval(1e-4)
        assert sys.getswitchinterval() == pytest.approx(1e-4)
    finally:
        sys.setswitchinterval(before)


def test_freeze_heap_takes_live_objects_out_of_full_collections():
    import gc

    from psi0_common.realtime import freeze_heap

    keep = [[i] for i in range(20000)]  # long-lived, GC-tracked
    try:
        frozen = freeze_heap()
        assert frozen >= len(keep) and gc.get_freeze_count() == frozen
        scanned = {id(o) for o in gc.get_objects(generation=2)}  # what a full collection would scan
        assert not any(id(x) in scanned for x in keep)
    finally:
        gc.unfreeze()
