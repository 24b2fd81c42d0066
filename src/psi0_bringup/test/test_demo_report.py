import math

from psi0_bringup.demo_report import table, write_report
from psi0_bringup.episodes import EpisodeResult, RunSummary


def summary(label, successes, n=10):
    s = RunSummary(label, "eval", "cube_in_box")
    for i in range(n):
        s.episodes.append(EpisodeResult(i, 50000 + i, i < successes, 10.0, 5.0 if i < successes else math.nan,
                                        "success" if i < successes else "timeout", action_rate_hz=30.0,
                                        latency_mean_s=0.05, latency_max_s=0.09, seam_jump_max_rad=0.02))
    return s.as_dict()


def test_table_orders_runs_and_shows_intervals():
    text = table([summary("naive", 4), summary("hold", 0), summary("rtc", 6)])
    lines = text.splitlines()
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["hold", "rtc", "naive"]
    assert "| rtc | 6/10 | 60% | 31-83% |" in text
    assert "| hold | 0/10 | 0% | 0-28% |" in text
    assert "50 / 90 ms" in text


def test_write_report_makes_markdown_and_png(tmp_path):
    out = write_report([summary("hold", 0), summary("rtc", 7)], tmp_path)
    assert (tmp_path / "report.md").read_text().startswith("| run |")
    png = (tmp_path / "success.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "report.md" in out
