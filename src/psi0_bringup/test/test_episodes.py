import json
import math

import pytest

import numpy as np

from psi0_bringup.episodes import ActionSeamMeter, EpisodeResult, EpisodeRunnerConfig, RunSummary, wilson_interval
from psi0_common.config import ConfigError


@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 20, 0.0089, 0.2361),
])
def test_wilson_interval_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_interval_without_episodes_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summary_counts_and_writes_json(tmp_path):
    s = RunSummary("rtc", "eval", "cube_in_box")
    s.episodes += [EpisodeResult(0, 1000, True, 5.0, 4.2, "success"),
                   EpisodeResult(1, 1001, False, 20.0, math.nan, "timeout")]
    assert s.successes == 1
    assert "rtc: 1/2 succeeded (50%" in s.line()
    s.write(tmp_path / "out/summary.json")
    data = json.loads((tmp_path / "out/summary.json").read_text())
    assert data["successes"] == 1 and data["episodes"] == 2 and len(data["results"]) == 2
    assert data["ci95"] == pytest.approx(list(wilson_interval(1, 2)))


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="driver"):
        EpisodeRunnerConfig(driver="autopilot")
    with pytest.raises(ConfigError, match="timeout"):
        EpisodeRunnerConfig(timeout=0.0)


def test_control_line_aggregates_episode_figures():
    s = RunSummary("rtc", "eval", "cube_in_box")
    s.episodes += [EpisodeResult(0, 1, True, 5.0, 4.0, "success", action_rate_hz=30.0, lowcmd_rate_hz=50.0,
                                 latency_mean_s=0.1, latency_max_s=0.2, seam_jump_max_rad=0.05, seam_jump_mean_rad=0.03,
                                 step_median_rad=0.01, dropped_ticks=1),
                   EpisodeResult(1, 2, False, 5.0, math.nan, "timeout", action_rate_hz=28.0, lowcmd_rate_hz=48.0,
                                 latency_mean_s=0.3, latency_max_s=0.4, seam_jump_max_rad=0.02, seam_jump_mean_rad=0.01,
                                 step_median_rad=0.02, dropped_ticks=2)]
    line = s.control_line()
    assert "action 29.0 Hz" in line and "lowcmd 49.0 Hz" in line
    assert "latency mean 200 ms / max 400 ms" in line
    assert "seam jump mean 0.020 / max 0.050 rad (step inside chunks 0.015 rad; late switches 0/0)" in line
    assert "dropped ticks 3" in line


def test_seam_meter_counts_each_switch_from_the_action_stream():
    m = ActionSeamMeter()
    a = np.zeros(36)
    m.note_chunk(2, 2)                        # chunk 2 froze 2 actions, chunk 3 froze 1
    m.note_chunk(3, 1)
    # (chunk, index in chunk, tick): chunk 2 starts at index 2 (on time: <= d), chunk 3 at index 3 (late)
    for chunk, index, tick in [(1, 0, 0), (1, 1, 1), (1, 2, 2), (2, 2, 3), (2, 3, 4), (3, 3, 5)]:
        act = a.copy()
        act[20] = 0.01 * tick                 # the motion: 0.01 rad per tick on one arm joint
        if chunk == 2:
            act[3] += 0.3                     # chunk 2 lands 0.3 rad off on a hand joint
        act[33] = 5.0 * tick                  # base velocity: not a joint, never part of a seam
        m.add(chunk, act, index)
    m.add(3, np.full(36, np.nan), 4)          # refused by the bridge: ignored, not a seam or a step
    m.note_chunk(4, 3)
    m.add(4, np.zeros(36), ActionSeamMeter.HELD_INDEX)   # held: lateness unknown
    r = EpisodeResult(0, 1, False, 1.0, math.nan, "timeout")
    m.fill(r)
    assert r.switches == 3 and m.late() == [False, True, None] and r.late_switches == 1
    assert m.seams[:2] == pytest.approx([0.3, 0.3]) and r.seam_jump_max_rad == pytest.approx(0.3)
    assert r.seam_jump_on_time_mean_rad == pytest.approx(0.3)
    assert r.step_median_rad == pytest.approx(0.01)
    empty = EpisodeResult(0, 1, False, 1.0, math.nan, "timeout")
    ActionSeamMeter().fill(empty)
    assert empty.switches == 0 and math.isnan(empty.seam_jump_mean_rad) and math.isnan(empty.seam_jump_on_time_mean_rad)


def test_video_writer_writes_readable_mp4(tmp_path):
    import imageio.v3 as iio
    import numpy as np

    from psi0_bringup.video import VideoWriter

    w = VideoWriter(tmp_path / "v.mp4", fps=30)
    for i in range(10):
        w.add(np.full((48, 64, 3), i * 20, np.uint8))
    w.add(np.zeros((96, 128, 3), np.uint8))  # another size is resized, not refused
    with pytest.raises(ValueError):
        w.add(np.zeros((48, 64), np.uint8))
    assert w.close() == 11
    frames = iio.imread(tmp_path / "v.mp4")
    assert frames.shape == (11, 48, 64, 3)
    assert abs(int(frames[5].mean()) - 100) <= 3


def test_docs_list_every_episode_runner_parameter():
    from pathlib import Path

    from psi0_common.config import markdown_table
    doc = Path(__file__).resolve().parents[3] / "docs" / "demo.md"
    assert markdown_table(EpisodeRunnerConfig) in doc.read_text(), (
        "docs/demo.md episode runner table is stale: regenerate it with markdown_table(EpisodeRunnerConfig)")
