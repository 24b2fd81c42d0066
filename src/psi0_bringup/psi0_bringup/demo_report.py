"""Success-rate report of evaluation runs: a markdown table and a bar chart with 95% intervals, and Fisher's
exact test of each run against the hold-still baseline and of rtc against naive."""
from __future__ import annotations

import math
from pathlib import Path

ORDER = ("hold", "rtc", "naive", "sync")


def _hypergeom(k: int, n1: int, n2: int, total_successes: int) -> float:
    """P(group 1 has k of the successes) when `total_successes` fall at random among n1 + n2 episodes."""
    return math.comb(n1, k) * math.comb(n2, total_successes - k) / math.comb(n1 + n2, total_successes)


def fisher_greater(a: int, n1: int, b: int, n2: int) -> float:
    """One-sided Fisher exact p that group 1 (a of n1 succeeded) has a higher rate than group 2 (b of n2)."""
    k = a + b
    return min(1.0, sum(_hypergeom(x, n1, n2, k) for x in range(a, min(k, n1) + 1)))


def fisher_two_sided(a: int, n1: int, b: int, n2: int) -> float:
    """Two-sided Fisher exact p (sum of the tables no more likely than the observed one)."""
    k = a + b
    observed = _hypergeom(a, n1, n2, k)
    p = sum(q for x in range(max(0, k - n2), min(k, n1) + 1)
            if (q := _hypergeom(x, n1, n2, k)) <= observed * (1 + 1e-9))
    return min(1.0, p)


def combine_runs(summaries: list[dict]) -> list[dict]:
    """One summary per label: runs of the same label on other seeds (e.g. a second `psi0 demo eval
    --eval-seed`) are pooled, counts and the Wilson interval recomputed. A seed evaluated twice under one
    label, or runs of different tasks, are refused (they would not be held-out repetitions)."""
    from psi0_bringup.episodes import RunSummary

    pooled: dict[str, RunSummary] = {}
    task = summaries[0]["task"] if summaries else None
    for d in summaries:
        run = RunSummary.from_dict(d)
        if run.task != task:
            raise ValueError(f"runs of different tasks cannot be reported together: {run.task!r} and {task!r}")
        if run.label not in pooled:
            pooled[run.label] = run
            continue
        seen = {e.seed for e in pooled[run.label].episodes}
        twice = sorted(seen & {e.seed for e in run.episodes})
        if twice:
            raise ValueError(f"{run.label}: seed {twice[0]} was evaluated in two runs")
        pooled[run.label].episodes = sorted(pooled[run.label].episodes + run.episodes, key=lambda e: e.seed)
    return [r.as_dict() for r in pooled.values()]


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


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 0.001 else f"{x:.1e}"


def _vs_hold(s: dict, hold: dict | None) -> str:
    if hold is None or s is hold:
        return "-"
    return _p(fisher_greater(s["successes"], s["episodes"], hold["successes"], hold["episodes"]))


def _late_share(results: list[dict]) -> str:
    """Share of chunk switches that landed past the new chunk's frozen prefix ('-' when none were counted)."""
    switches = sum(r.get("switches", 0) for r in results)
    return f"{100 * sum(r.get('late_switches', 0) for r in results) / switches:.0f}%" if switches else "-"


def table(summaries: list[dict]) -> str:
    rows = ["| run | successes | success rate | 95% CI | p vs hold | action rate | inference latency mean / max | "
            "seam jump mean / max | seam jump inside the prefix | late switches | step inside chunks (median) | "
            "dropped ticks | touched / lifted the cube |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    key = {name: i for i, name in enumerate(ORDER)}
    by_label = {s["label"]: s for s in summaries}
    hold = by_label.get("hold")
    for s in sorted(summaries, key=lambda s: key.get(s["label"], 99)):
        res = s["results"]
        rows.append(
            f"| {s['label']} | {s['successes']}/{s['episodes']} | {100 * s['success_rate']:.0f}% | "
            f"{100 * s['ci95'][0]:.0f}-{100 * s['ci95'][1]:.0f}% | {_vs_hold(s, hold)} | "
            f"{_fmt(_mean(res, 'action_rate_hz'), 1, 1)} Hz | "
            f"{_fmt(_mean(res, 'latency_mean_s'), 1e3)} / {_fmt(_max(res, 'latency_max_s'), 1e3)} ms | "
            f"{_fmt(_mean(res, 'seam_jump_mean_rad'), 1, 3)} / {_fmt(_max(res, 'seam_jump_max_rad'), 1, 3)} rad | "
            f"{_fmt(_mean(res, 'seam_jump_on_time_mean_rad'), 1, 3)} rad | {_late_share(res)} | "
            f"{_fmt(_mean(res, 'step_median_rad'), 1, 3)} rad | {sum(r.get('dropped_ticks', 0) for r in res)} | "
            f"{_seen(s, 'hand_touching_object')} / {_seen(s, 'cube_lifted')} |")
    notes = ["", "p vs hold: one-sided Fisher exact test that the run succeeds more often than standing still."]
    if "rtc" in by_label and "naive" in by_label:
        r, n = by_label["rtc"], by_label["naive"]
        notes.append(f"rtc vs naive: {r['successes']}/{r['episodes']} vs {n['successes']}/{n['episodes']}, "
                     f"two-sided Fisher exact p = {_p(fisher_two_sided(r['successes'], r['episodes'], n['successes'], n['episodes']))}.")
        seam_r, seam_n = _mean(r["results"], "seam_jump_mean_rad"), _mean(n["results"], "seam_jump_mean_rad")
        if seam_n > 0 and not math.isnan(seam_r):
            notes.append(f"rtc / naive seam jump (mean over episodes): {100 * seam_r / seam_n:.1f}%.")
    return "\n".join(rows + notes)


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = {name: i for i, name in enumerate(ORDER)}
    ss = sorted(summaries, key=lambda s: key.get(s["label"], 99))
    rates = [100 * s["success_rate"] for s in ss]
    err = [[100 * (s["success_rate"] - s["ci95"][0]) for s in ss], [100 * (s["ci95"][1] - s["success_rate"]) for s in ss]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    names = [f"{s['label']}\n{s['successes']}/{s['episodes']}" for s in ss]
    ax.bar(names, rates, yerr=err, capsize=6, color=["#999999", "#2a7ab9", "#e08a2c", "#7b5ea7"][:len(ss)])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{ss[0]['task']}: held-out seeds, 95% CI")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(summaries: list[dict], workdir: Path) -> str:
    text = table(summaries)
    (workdir / "report.md").write_text(text + "\n")
    plot(summaries, workdir / "success.png")
    return text + f"\n\nwritten: {workdir / 'report.md'}, {workdir / 'success.png'}"
