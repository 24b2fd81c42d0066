import json
import math

import pytest

from psi0_bringup.episodes import EpisodeResult, EpisodeRunnerConfig, RunSummary, wilson_interval
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
