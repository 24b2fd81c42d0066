"""Success-rate report of evaluation runs: a markdown table and a bar chart with 95% intervals."""
from __future__ import annotations

import math
from pathlib import Path

ORDER = ("hold", "rtc", "naive", "sync")


def _fmt(x: float, scale: float = 1.0, digits: int = 0) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{scale * x:.{digits}f}"


def _mean(results: list[dict], key: str) -> float:
    vals = [r[key] for r in results if r.get(key) is not None and not math.isnan(r[key])]
    return sum(vals) / len(vals) if vals else math.nan


def _max(results: list[dict], key: str) -> float:
    vals = [r[key] for r in results if r.get(key) is not None and not math.isnan(r[key])]
    return max(vals) if vals else math.nan


def _seen(summary: dict, predicate: str) -> str:
    """In how many episodes `predicate` was true at some point ('-' for summaries written before it was kept)."""
    if "predicate_episodes" not in summary:
        return "-"
    return f"{summary['predicate_episodes'].get(predicate, 0)}/{summary['episodes']}"


def table(summaries: list[dict]) -> str:
    rows = ["| run | successes | success rate | 95% CI | action rate | inference latency mean / max | "
            "seam jump mean / max | dropped ticks | touched / lifted the cube |", "|---|---|---|---|---|---|---|---|---|"]
    key = {name: i for i, name in enumerate(ORDER)}
    for s in sorted(summaries, key=lambda s: key.get(s["label"], 99)):
        res = s["results"]
        rows.append(
            f"| {s['label']} | {s['successes']}/{s['episodes']} | {100 * s['success_rate']:.0f}% | "
            f"{100 * s['ci95'][0]:.0f}-{100 * s['ci95'][1]:.0f}% | {_fmt(_mean(res, 'action_rate_hz'), 1, 1)} Hz | "
            f"{_fmt(_mean(res, 'latency_mean_s'), 1e3)} / {_fmt(_max(res, 'latency_max_s'), 1e3)} ms | "
            f"{_fmt(_mean(res, 'seam_jump_mean_rad'), 1, 3)} / {_fmt(_max(res, 'seam_jump_max_rad'), 1, 3)} rad | {sum(r.get('dropped_ticks', 0) for r in res)} | "
            f"{_seen(s, 'hand_touching_object')} / {_seen(s, 'cube_lifted')} |")
    return "\n".join(rows)


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = {name: i for i, name in enumerate(ORDER)}
    ss = sorted(summaries, key=lambda s: key.get(s["label"], 99))
    rates = [100 * s["success_rate"] for s in ss]
    err = [[100 * (s["success_rate"] - s["ci95"][0]) for s in ss], [100 * (s["ci95"][1] - s["success_rate"]) for s in ss]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.bar([s["label"] for s in ss], rates, yerr=err, capsize=6, color=["#999999", "#2a7ab9", "#e08a2c", "#7b5ea7"][:len(ss)])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{ss[0]['task']}: {ss[0]['episodes']} held-out seeds per run (95% CI)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(summaries: list[dict], workdir: Path) -> str:
    text = table(summaries)
    (workdir / "report.md").write_text(text + "\n")
    plot(summaries, workdir / "success.png")
    return text + f"\n\nwritten: {workdir / 'report.md'}, {workdir / 'success.png'}"
