"""RTC runtime on a fake clock and a deterministic fake policy: exact actions at every tick."""
import time

import numpy as np
import pytest

from psi0_policy.rtc import ControlLoop, FakeClock, MonotonicClock, RtcConfig, RtcRuntime, delay_steps_for

A = 36
DT = 0.1  # 10 Hz keeps the arithmetic readable; the runtime only counts ticks


class FakePolicy:
    """Chunk k (k = 1, 2, ...) has normalized rows 1000 k + j; a prefix is written in as given
    (training-time RTC). Robot units: raw = 2 * norm + 1, so the prefix copy is checked exactly."""

    def __init__(self, fail_on=()):
        self.calls = 0
        self.prefixes = []
        self.fail_on = set(fail_on)

    def infer(self, obs, prefix_norm):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("boom")
        self.prefixes.append(None if prefix_norm is None else prefix_norm.copy())
        out = np.repeat((1000.0 * self.calls + np.arange(10.0))[:, None], A, axis=1)
        if prefix_norm is not None:
            out[: len(prefix_norm)] = prefix_norm
        return out

    def normalize(self, raw):
        return (np.asarray(raw) - 1) / 2

    def unnormalize(self, norm):
        return 2 * np.asarray(norm) + 1


def make(mode="rtc", latency=0.3, observe=None, **kw):
    cfg = RtcConfig(mode=mode, horizon=10, s_min=5, delay_buffer=3, initial_delay=2, max_delay=4,
                    control_hz=1 / DT, **kw)
    clock = FakeClock()
    pol = FakePolicy()
    rt = RtcRuntime(pol, cfg, observe or (lambda: ("obs", "")), clock=clock, injected_latency=latency)
    rt.start()
    return rt, clock, pol


def run(rt, clock, n):
    outs = []
    for _ in range(n):
        clock.advance(DT)
        outs.append(rt.tick())
    return outs


def norm_of(out):
    """Normalized value of the action (all dims equal in the fake policy), or None."""
    return None if out.action is None else (out.action[0] - 1) / 2


def test_rtc_exact_actions_latency_3_ticks():
    rt, clock, pol = make(latency=3 * DT)
    try:
        outs = run(rt, clock, 16)
    finally:
        rt.stop()
    got = [norm_of(o) for o in outs]
    # ticks 1-3 wait for the first chunk (requested at tick 1, due at tick 4); it starts at index 0.
    # tick 8: t = 5 = s_min -> request, s = 5, d = 2 (initial), prefix = chunk1[5:7]; due at tick 11.
    # ticks 9, 10 run chunk1[5], chunk1[6]; tick 11 switches with t = 7 - 5 = 2 -> chunk2[2].
    # tick 13: t = 5 again -> request (d = max(2, 2) = 2); tick 16 switches to chunk3[2].
    expected = [None, None, None, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 2002, 2003, 2004, 2005, 2006, 3002]
    assert got == expected
    assert [o.fresh for o in outs[3:]] == [True] * 13
    # the new chunk's prefix is exactly the committed (not yet executed at request time) actions
    np.testing.assert_array_equal(pol.prefixes[1], np.full((2, A), [[1005.0], [1006.0]]))
    st = rt.snapshot()
    assert st.dry_ticks == 0 and st.paused_ticks == 0 and st.last_delay == 2 and st.last_d == 2
    # seam at tick 11: chunk2[2] follows chunk1[6]; both in raw units (x2)
    assert outs[10].switched and outs[10].seam_jump == pytest.approx(2 * (2002 - 1006))
    # switch gap: the new action vs the old chunk's plan for that tick (chunk1[7]). 2 ticks ran during the
    # inference and 2 actions were frozen, so the switch lands on the first generated action: not late.
    assert st.seam_gaps[0] == 2 * (2002 - 1007) and st.late_chunks == 0


def test_on_chunk_reports_the_seam_of_its_own_switch():
    # The node publishes its status from on_chunk: the seam jump in stats at that moment must be the one
    # of the switch to this chunk (not the previous switch's, not 0 for the first seam).
    rt, clock, _ = make(latency=3 * DT)
    seen = []
    rt.on_chunk = lambda ch: seen.append((ch.chunk_id, rt.stats.last_seam_jump, len(rt.stats.seam_jumps)))
    try:
        outs = run(rt, clock, 40)
    finally:
        rt.stop()
    seams = [o.seam_jump for o in outs if o.switched and o.seam_jump is not None]
    assert len(seen) >= 3 and len(seams) == len(seen) - 1
    assert seen[0][2] == 0                       # the first chunk has no seam
    for (_, jump, count), seam in zip(seen[1:], seams):
        assert jump == seam and count >= 1


def test_rtc_switch_inside_prefix_is_seamless():
    # latency 2 ticks -> 1 tick runs during inference, d = 2 frozen: the switch lands inside the prefix,
    # so the action at the switch is the old chunk's next action, bit for bit.
    rt, clock, pol = make(latency=2 * DT)
    chunks = []
    rt.on_chunk = chunks.append
    try:
        outs = run(rt, clock, 12)
    finally:
        rt.stop()
    got = [norm_of(o) for o in outs]
    # first chunk due at tick 3; request at tick 7 (s = 5), due tick 9: tick 8 runs chunk1[5],
    # tick 9 switches with t = 1 -> chunk2[1] == chunk1[6] (prefix).
    assert got == [None, None, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 2002, 2003, 2004]
    assert outs[8].switched and outs[8].index == 1
    np.testing.assert_array_equal(outs[8].action, 2 * np.full(A, 1006.0) + 1)  # == chunk1[6]
    assert outs[8].seam_jump == 2.0  # the ordinary in-chunk step (1 normalized = 2 raw), no seam
    assert rt.snapshot().seam_gaps[0] == 0.0  # exactly what the old chunk planned for that tick
    c2 = chunks[1]
    np.testing.assert_array_equal(c2.raw[:2], chunks[0].raw[5:7])  # committed actions, exact
    assert (c2.d, c2.s, c2.delay_steps, c2.start_step) == (2, 5, 1, 8)
    assert rt.delay_estimate == 2  # buffer [2 (initial), 1]


def test_naive_and_sync_timing():
    rt, clock, pol = make("naive", latency=3 * DT)
    try:
        naive = [norm_of(o) for o in run(rt, clock, 12)]
    finally:
        rt.stop()
    assert pol.prefixes == [None, None]  # naive never conditions on a prefix
    assert naive == [None, None, None, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 2002, 2003]

    rt, clock, pol = make("sync", latency=3 * DT)
    try:
        outs = run(rt, clock, 14)
    finally:
        rt.stop()
    sync = [norm_of(o) for o in outs]
    # tick 8 executes chunk1[4] and requests; ticks 9, 10 hold it (paused); tick 11 starts chunk2 at 0.
    assert sync == [None, None, None, 1000, 1001, 1002, 1003, 1004, 1004, 1004, 2000, 2001, 2002, 2003]
    assert [o.fresh for o in outs[7:11]] == [True, False, False, True]
    st = rt.snapshot()
    assert st.paused_ticks == 2 and st.dry_ticks == 0 and st.dropped_ticks == 2


def test_delay_at_or_above_max_delay_clamps_and_keeps_running():
    # latency 7 ticks: 6 ticks run during inference (> max_delay 4). The buffer runs dry after 5 ticks
    # (H - s = 5): hold the last action, count it, and clamp the next prefix to max_delay - 1 = 3.
    rt, clock, pol = make(latency=7 * DT)
    try:
        outs = run(rt, clock, 30)
    finally:
        rt.stop()
    got = [norm_of(o) for o in outs]
    # first chunk: requested tick 1, due tick 8 -> chunk1[0] at tick 8 ... t = 5 at tick 12 -> request,
    # d = 2, due tick 19. ticks 13-17 chunk1[5..9]; tick 18 dry (hold 1009); tick 19 switch, t = 6 -> 2006.
    assert got[7:19] == [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1009, 2006]
    assert outs[17].fresh is False and outs[17].index == -1
    # tick 19 consumed chunk2[6] -> t = 7 >= s_min: request with d = min(max(2, 6), 3, 10 - 7) = 3
    np.testing.assert_array_equal(pol.prefixes[2], np.full((3, A), [[2007.0], [2008.0], [2009.0]]))
    st = rt.snapshot()
    assert st.delay_clamped >= 1 and "trained maximum" in st.message
    assert st.dry_ticks >= 1 and st.inference_errors == 0
    assert all(o.action is not None for o in outs[7:])  # never stopped producing actions


def test_stale_observation_blocks_new_chunks_and_says_why():
    ok = {"v": True}
    rt, clock, pol = make(latency=DT, observe=lambda: ("obs", "") if ok["v"] else (None, "image is 0.8 s old"))
    try:
        run(rt, clock, 3)
        ok["v"] = False
        outs = run(rt, clock, 15)
    finally:
        rt.stop()
    assert pol.calls == 1  # only the first chunk
    st = rt.snapshot()
    assert st.message == "no new chunk: image is 0.8 s old" and st.blocked_starts > 0
    assert outs[-1].fresh is False and st.dry_ticks > 0
    np.testing.assert_array_equal(outs[-1].action, np.full(A, 2 * 1009.0 + 1))  # holds the last action


def test_inference_error_is_reported_and_retried():
    cfg = RtcConfig(horizon=10, s_min=5, delay_buffer=3, initial_delay=2, max_delay=4, control_hz=10)
    clock = FakeClock()
    pol = FakePolicy(fail_on={2})
    rt = RtcRuntime(pol, cfg, lambda: ("obs", ""), clock=clock, injected_latency=DT)
    rt.start()
    try:
        run(rt, clock, 20)
    finally:
        rt.stop()
    st = rt.snapshot()
    assert st.inference_errors == 1 and "boom" in st.last_error
    assert st.message == ""  # recovered: later chunks arrived
    assert pol.calls >= 3 and st.chunks >= 2


def test_bad_policy_output_is_an_error_not_a_crash():
    class Bad(FakePolicy):
        def infer(self, obs, prefix_norm):
            out = super().infer(obs, prefix_norm)
            return out if self.calls == 1 else out * np.nan

    cfg = RtcConfig(horizon=10, s_min=5, delay_buffer=3, initial_delay=2, max_delay=4, control_hz=10)
    clock = FakeClock()
    rt = RtcRuntime(Bad(), cfg, lambda: ("obs", ""), clock=clock, injected_latency=DT)
    rt.start()
    try:
        outs = run(rt, clock, 20)
    finally:
        rt.stop()
    assert rt.snapshot().inference_errors >= 1 and "non-finite" in rt.snapshot().last_error
    assert "inference failed" in rt.snapshot().message  # never recovers with this policy
    assert np.isfinite(outs[-1].action).all()


def test_delay_steps_for():
    assert delay_steps_for(0.0, 30) == 0
    assert delay_steps_for(5 / 30, 30) == 4
    assert delay_steps_for(5.5 / 30, 30) == 5


@pytest.mark.realtime
def test_control_loop_real_clock_with_slow_policy_never_runs_dry():
    """Real threads and clock: 30 Hz ticks, an inference of ~150 ms (< s_min = 15 steps): no dropped ticks."""

    class Slow(FakePolicy):
        def infer(self, obs, prefix_norm):
            time.sleep(0.15)
            out = super().infer(obs, prefix_norm)
            return np.concatenate([out, out, out])[:30]

    cfg = RtcConfig()
    rt = RtcRuntime(Slow(), cfg, lambda: ("obs", ""), clock=MonotonicClock())
    outs = []
    loop = ControlLoop(rt.tick, cfg.control_hz, outs.append)
    rt.start()
    loop.start()
    time.sleep(2.5)
    loop.stop()
    rt.stop()
    st = rt.snapshot()
    assert st.chunks >= 3 and st.dry_ticks == 0 and st.paused_ticks == 0
    assert 4 <= st.last_delay <= 8
    assert len(outs) >= 60


def test_reset_drops_a_result_in_flight():
    rt, clock, pol = make(latency=3 * DT)
    try:
        run(rt, clock, 8)          # request for chunk 2 made at tick 8
        rt.reset()                 # e.g. deactivate -> activate
        outs = run(rt, clock, 6)
    finally:
        rt.stop()
    # the old request's chunk (conditioned on the old episode) is never executed: the first action after
    # the reset comes from a chunk requested after it, started at index 0.
    first = next(o for o in outs if o.action is not None)
    assert first.index == 0 and first.chunk_id >= 3
