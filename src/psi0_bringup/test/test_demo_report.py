import math

import pytest

from psi0_bringup.demo_report import combine_runs, fisher_greater, fisher_two_sided, table, write_report
from psi0_bringup.episodes import EpisodeResult, RunSummary, wilson_interval


def summary(label, successes, n=10, first_seed=50000, task="cube_in_box", seam=0.01):
    s = RunSummary(label, "eval", task)
    for i in range(n):
        s.episodes.append(EpisodeResult(i, first_seed + i, i < successes, 10.0, 5.0 if i < successes else math.nan,
                                        "success" if i < successes else "timeout", action_rate_hz=30.0,
                                        latency_mean_s=0.05, latency_max_s=0.09, seam_jump_max_rad=0.02,
                                        seam_jump_mean_rad=seam * (1 + i % 2), step_median_rad=0.004,
                                        switches=20, late_switches=i % 2, seam_jump_on_time_mean_rad=0.005))
    return s.as_dict()


def test_table_orders_runs_and_shows_intervals():
    text = table([summary("naive", 4), summary("hold", 0), summary("rtc", 6)])
    lines = text.splitlines()
    assert [ln.split("|")[1].strip() for ln in lines[2:5]] == ["hold", "rtc", "naive"]
    assert "| rtc | 6/10 | 60% | 31-83% |" in text
    assert "| hold | 0/10 | 0% | 0-28% |" in text
    assert "50 / 90 ms" in text and "0.015 / 0.020 rad | 0.005 rad | 2% | 0.004 rad |" in text
    # p vs hold: 6/10 vs 0/10 one-sided Fisher = C(10,6) / C(20,6) = 210 / 38760
    assert "| rtc | 6/10 | 60% | 31-83% | 0.0054 |" in text and "| hold | 0/10 | 0% | 0-28% | - |" in text
    assert "rtc vs naive: 6/10 vs 4/10, two-sided Fisher exact p = 0.66." in text
    assert "rtc / naive seam jump (mean over episodes): 100.0%." in text
    text = table([summary("naive", 4, seam=0.2), summary("rtc", 6, seam=0.01)])
    assert "rtc / naive seam jump (mean over episodes): 5.0%." in text


def test_fisher_exact_matches_hand_computed_tables():
    assert fisher_greater(4, 10, 0, 10) == pytest.approx(210 / 4845)        # C(10,4) / C(20,4)
    assert fisher_greater(0, 10, 4, 10) == pytest.approx(1.0)
    assert fisher_greater(3, 5, 3, 5) == pytest.approx((100 + 50 + 5) / 210)  # P(X >= 3), 6 successes in 5 + 5
    # 5/20 vs 3/20: the tables at least as extreme as |5 - 4| on both sides, by hand from the hypergeometric
    from math import comb
    pr = lambda x: comb(20, x) * comb(20, 8 - x) / comb(40, 8)  # noqa: E731
    assert fisher_two_sided(5, 20, 3, 20) == pytest.approx(sum(pr(x) for x in (0, 1, 2, 3, 5, 6, 7, 8)))
    assert fisher_two_sided(2, 10, 2, 10) == pytest.approx(1.0)


def test_runs_on_more_seeds_are_pooled_by_label():
    pooled = {s["label"]: s for s in combine_runs([summary("rtc", 4), summary("hold", 0),
                                                   summary("rtc", 5, first_seed=50010), summary("hold", 0, first_seed=50010)])}
    assert pooled["rtc"]["successes"] == 9 and pooled["rtc"]["episodes"] == 20
    assert [r["seed"] for r in pooled["rtc"]["results"]] == list(range(50000, 50020))
    assert pooled["rtc"]["ci95"] == pytest.approx(list(wilson_interval(9, 20)))
    with pytest.raises(ValueError, match="seed 50000 was evaluated in two runs"):
        combine_runs([summary("rtc", 4), summary("rtc", 4)])
    with pytest.raises(ValueError, match="different tasks"):
        combine_runs([summary("rtc", 4), summary("naive", 4, task="cube_in_box_near")])


def test_write_report_makes_markdown_and_png(tmp_path):
    out = write_report([summary("hold", 0), summary("rtc", 7)], tmp_path)
    assert (tmp_path / "report.md").read_text().startswith("| run |")
    png = (tmp_path / "success.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "report.md" in out


def test_convert_takes_the_successful_demonstrations(tmp_path):
    import json

    import pytest

    from psi0_bringup.demo_cmd import recorded_bags

    bags = [tmp_path / f"ep{i}" for i in range(3)]
    for b in bags:
        b.mkdir()
    results = [{"success": ok, "bag_path": str(b)} for ok, b in zip((True, False, True), bags)]
    summary = tmp_path / "data_summary.json"
    summary.write_text(json.dumps({"results": results}))
    assert recorded_bags(summary) == [bags[0], bags[2]]
    assert recorded_bags(summary, keep_failed=True) == bags
    bags[2].rmdir()
    with pytest.raises(SystemExit, match="missing"):
        recorded_bags(summary)
    summary.write_text(json.dumps({"results": [{"success": False, "bag_path": str(bags[1])}]}))
    with pytest.raises(SystemExit, match="no successful demonstration"):
        recorded_bags(summary)
    with pytest.raises(SystemExit, match="psi0 demo data"):
        recorded_bags(tmp_path / "none.json")


def test_predicates_seen_are_counted_per_episode():
    s = RunSummary("rtc", "eval", "cube_in_box_near")
    for i, seen in enumerate((["hand_touching_object"], ["cube_lifted", "hand_touching_object"], [])):
        s.episodes.append(EpisodeResult(i, 50000 + i, False, 50.0, math.nan, "timeout", predicates_seen=seen))
    d = s.as_dict()
    assert d["predicate_episodes"] == {"hand_touching_object": 2, "cube_lifted": 1}
    assert "| 2/3 / 1/3 |" in table([d])


def test_a_second_data_run_extends_the_recorded_demonstrations():
    from psi0_bringup.demo_cmd import merge_data_summaries, next_data_seed

    def run(seeds, ok, task="cube_in_box_near"):
        s = RunSummary("teleop", "record", task)
        for i, (seed, good) in enumerate(zip(seeds, ok)):
            s.episodes.append(EpisodeResult(i, seed, good, 30.0, 20.0 if good else math.nan,
                                            "success" if good else "timeout", bag_path=f"bags/{seed}"))
        return s.as_dict()

    first = run([1000, 1001, 1002], [True, False, True])
    assert next_data_seed(None) == 1000 and next_data_seed(first) == 1003
    merged = merge_data_summaries(first, run([1003, 1004], [True, True])).as_dict()
    assert [r["seed"] for r in merged["results"]] == [1000, 1001, 1002, 1003, 1004]
    assert (merged["episodes"], merged["successes"]) == (5, 4) and merged["ci95"][0] > 0.3
    # a re-recorded seed replaces the old result (its new bag is the one converted)
    again = merge_data_summaries(merged, run([1001], [True])).as_dict()
    assert again["successes"] == 5 and again["episodes"] == 5
    assert merge_data_summaries(None, first).as_dict() == first
    with pytest.raises(SystemExit, match="another --workdir"):
        merge_data_summaries(first, run([1003], [True], task="cube_in_box"))


def test_report_pools_added_eval_dirs_and_refuses_an_empty_one(tmp_path):
    import argparse
    import json

    from psi0_bringup.demo_cmd import step_report

    work, more = tmp_path / "demo", tmp_path / "seeds2" / "eval"
    (work / "eval").mkdir(parents=True)
    more.mkdir(parents=True)
    (work / "eval" / "rtc.json").write_text(json.dumps(summary("rtc", 4)))
    (more / "rtc.json").write_text(json.dumps(summary("rtc", 5, first_seed=50010)))
    step_report(argparse.Namespace(workdir=work, add_eval=[more]))
    assert "| rtc | 9/20 |" in (work / "report.md").read_text()
    with pytest.raises(SystemExit, match="--add-eval .*typo.*no evaluation summaries"):
        step_report(argparse.Namespace(workdir=work, add_eval=[tmp_path / "typo" / "eval"]))
    (more / "naive.json").write_text(json.dumps(summary("naive", 3, task="cube_in_box_near")))
    with pytest.raises(SystemExit, match="cannot report these runs together: .*different tasks"):
        step_report(argparse.Namespace(workdir=work, add_eval=[more]))


def test_eval_set_reaches_every_evaluation_graph_after_the_demo_defaults(tmp_path, monkeypatch):
    import argparse

    from psi0_bringup import demo_cmd
    from psi0_bringup.profile import ConfigError, load_profile

    launched = []
    monkeypatch.setattr(demo_cmd, "_psi0", lambda *args: launched.append(args))
    parser = argparse.ArgumentParser()
    demo_cmd.add_arguments(parser)
    args = parser.parse_args(["eval", "--workdir", str(tmp_path), "--checkpoint", "ckpt", "--labels", "rtc", "naive",
                              "--eval-set", "policy.min_latency=0.47", "--eval-set", "policy.flow_steps=4"])
    demo_cmd.step_eval(args)
    assert [a[:2] for a in launched] == [("launch", "demo_eval")] * 2
    for cmd in launched:   # the overrides the launch command would apply, in its order (the last one wins)
        overrides = [cmd[i + 1] for i, word in enumerate(cmd) if word == "--set"]
        policy = {n.name: n for n in load_profile("demo_eval", overrides).nodes}["policy"].parameters
        assert policy["min_latency"] == 0.47 and policy["flow_steps"] == 4 and policy["checkpoint"] == "ckpt"
    with pytest.raises(ConfigError, match="min_latencyy"):   # a typo is refused before anything starts
        load_profile("demo_eval", ["policy.min_latencyy=0.47"])
    launched.clear()
    args.eval_set = ["policy.mode=sync"]   # would silently turn every label into sync
    with pytest.raises(SystemExit, match="sets policy.mode itself; use --labels"):
        demo_cmd.step_eval(args)
    args.eval_set = ["policy.min_latency=0.47", "min_latency=0.47"]   # malformed: refused before the first run
    with pytest.raises(SystemExit, match="must look like node.parameter=value"):
        demo_cmd.step_eval(args)
    assert launched == []
