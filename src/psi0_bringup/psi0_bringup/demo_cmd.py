"""`psi0 demo STEP`: the whole loop in simulation, record -> convert -> train -> evaluate.

Each step is the project's own command run as a subprocess, so what the demo
does is exactly what a user would type:
- data:    `psi0 launch demo_record` (scripted operator -> teleop -> AMO bridge -> sim, one bag per episode)
- convert: `psi0 convert <bags> --out <dataset>`
- train:   `psi0 train <config> --dataset <dataset> --output_dir <run>`
- eval:    `psi0 launch demo_eval` once per driver: the trained policy with rtc, naive and sync chunking,
           and the hold-still baseline, all on the same held-out seeds
- report:  success rates with 95% Wilson intervals, Fisher exact p against hold-still and rtc vs naive,
           control figures, a bar chart; `--add-eval DIR` pools runs on more seeds.
Everything lands in --workdir (default runs/demo).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

STEPS = ("data", "convert", "train", "eval", "report")
EVAL_RUNS = (("hold", "hold", "rtc"), ("rtc", "policy", "rtc"), ("naive", "policy", "naive"),
             ("sync", "policy", "sync"))  # (label, episode_runner.driver, policy.mode)
# demo_eval parameters each evaluation run sets itself, and the option that sets them (--eval-set refuses them)
EVAL_OWNED = {"policy.checkpoint": "--checkpoint", "policy.mode": "--labels", "episode_runner.driver": "--labels",
              "episode_runner.label": "--labels", "episode_runner.episodes": "--eval-episodes",
              "episode_runner.first_seed": "--eval-seed", "episode_runner.task": "--task",
              "episode_runner.timeout": "--timeout", "episode_runner.summary_path": "--workdir"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("step", choices=STEPS + ("all",), help="which step to run (all = every step in order)")
    p.add_argument("--workdir", type=Path, default=Path("runs/demo"), help="where every output goes")
    p.add_argument("--task", default="cube_in_box_near", help="sim task (psi0_sim.layout.TASK_NAMES)")
    p.add_argument("--episodes", type=int, default=24, help="demonstrations to record")
    p.add_argument("--keep-failed", action="store_true",
                   help="convert failed demonstrations too (a plumbing check; they teach failure)")
    p.add_argument("--data-timeout", type=float, default=None,
                   help="seconds per demonstration (default: the demo_record profile's)")
    p.add_argument("--trim-start", type=float, default=4.0,
                   help="seconds dropped at the start of every demonstration (the demonstrator's ritual)")
    p.add_argument("--trim-end", type=float, default=6.0,
                   help="seconds dropped at the end of every demonstration (standing after success)")
    p.add_argument("--eval-episodes", type=int, default=10, help="closed-loop rollouts per driver")
    p.add_argument("--data-seed", type=int, default=None,
                   help="first seed of the demonstrations (default: 1000, or after the last seed already recorded "
                        "in --workdir: a second `data` run adds demonstrations)")
    p.add_argument("--eval-seed", type=int, default=50000, help="first seed of the held-out evaluation")
    p.add_argument("--timeout", type=float, default=50.0, help="seconds per evaluation episode")
    p.add_argument("--train-config", default="sim_stage3", help="training config (psi0 train --list)")
    p.add_argument("--train-steps", type=int, default=None, help="override the config's number of steps")
    p.add_argument("--convert-set", action="append", default=[], metavar="KEY=VALUE",
                   help="other converter settings, e.g. --convert-set max_gap_fraction=0.2 (psi0 convert --help)")
    p.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                   help="other training overrides, e.g. --train-set batch_size=16 (psi0 train CONFIG --help)")
    p.add_argument("--eval-set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="other demo_eval profile overrides for every evaluation run, applied after the demo's own, "
                        "e.g. --eval-set policy.min_latency=0.47 (psi0 launch --help)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="checkpoint to evaluate (default: the newest under <workdir>/train)")
    p.add_argument("--add-eval", action="append", default=[], type=Path, metavar="DIR",
                   help="report: also pool the runs in DIR (another workdir's eval/, e.g. more seeds of the same "
                        "checkpoint) with <workdir>/eval, label by label")
    p.add_argument("--labels", nargs="+", default=[r[0] for r in EVAL_RUNS],
                   choices=[r[0] for r in EVAL_RUNS], help="which evaluation runs to do")


def _psi0(*args: str) -> None:
    cmd = [sys.executable, "-m", "psi0_bringup.cli", *args]
    print("[demo] $ psi0 " + " ".join(args), flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise SystemExit(f"[demo] step failed (exit {code}): psi0 {' '.join(args)}")


def _newest_checkpoint(workdir: Path) -> Path:
    candidates = sorted((workdir / "train" / "checkpoints").glob("[0-9]*"))
    if not candidates:
        raise SystemExit(f"[demo] no checkpoint under {workdir / 'train' / 'checkpoints'}; run `psi0 demo train` "
                         "or pass --checkpoint")
    return candidates[-1]


def step_data(a) -> None:
    """Record a.episodes demonstrations. An existing data_summary.json is kept and extended (never lose
    recorded data): the new run writes its own summary, which is then merged in, new seeds after the old."""
    summary = a.workdir / "data_summary.json"
    old = json.loads(summary.read_text()) if summary.exists() else None
    first_seed = a.data_seed if a.data_seed is not None else next_data_seed(old)
    part = a.workdir / "data_summary.part.json"
    part.unlink(missing_ok=True)
    try:
        _psi0("launch", "demo_record", "--set", f"recorder.output_dir={a.workdir / 'bags'}",
              "--set", f"episode_runner.episodes={a.episodes}", "--set", f"episode_runner.first_seed={first_seed}",
              "--set", f"episode_runner.task={a.task}", "--set", f"episode_runner.summary_path={part}",
              *(["--set", f"episode_runner.timeout={a.data_timeout}"] if a.data_timeout else []))
    finally:  # a run stopped part-way still keeps the episodes it finished
        if part.exists():
            merged = merge_data_summaries(old, json.loads(part.read_text()))
            merged.write(summary)
            part.unlink()
            seeds = [e.seed for e in merged.episodes]
            print(f"[demo] {summary}: {merged.successes}/{len(seeds)} demonstrations succeeded "
                  f"(seeds {min(seeds)}-{max(seeds)})", flush=True)


def next_data_seed(summary: dict | None, default: int = 1000) -> int:
    """First seed after every seed in an existing data summary (default when there is none)."""
    seeds = [r["seed"] for r in (summary or {}).get("results", [])]
    return max(seeds) + 1 if seeds else default


def merge_data_summaries(old: dict | None, new: dict):
    """One RunSummary of both recording runs (same task): results by seed, a re-recorded seed replaced by the
    new run; counts and the Wilson interval are recomputed when it is written."""
    from psi0_bringup.episodes import RunSummary

    merged = RunSummary.from_dict(new)
    if old is None:
        return merged
    if old.get("task") != new.get("task"):
        raise SystemExit(f"[demo] the recorded demonstrations are for task {old.get('task')!r}, this run for "
                         f"{new.get('task')!r}: use another --workdir")
    by_seed = {e.seed: e for e in RunSummary.from_dict(old).episodes}
    by_seed.update({e.seed: e for e in merged.episodes})
    merged.episodes = [by_seed[seed] for seed in sorted(by_seed)]
    return merged


def recorded_bags(summary_path: Path, keep_failed: bool = False) -> list[Path]:
    """Bags of the demonstrations the task detector judged successful (failed ones teach failure);
    with keep_failed every recorded bag (the CI's miniature loop, which checks plumbing, not success)."""
    if not summary_path.exists():
        raise SystemExit(f"[demo] no {summary_path}; run `psi0 demo data` first")
    results = json.loads(summary_path.read_text())["results"]
    bags = [Path(r["bag_path"]) for r in results if (r["success"] or keep_failed) and r.get("bag_path")]
    missing = [b for b in bags if not b.is_dir()]
    if missing:
        raise SystemExit(f"[demo] {len(missing)} recorded bag(s) are missing, e.g. {missing[0]}")
    print(f"[demo] converting {len(bags)} of {len(results)} demonstrations "
          f"({'all recorded' if keep_failed else 'the successful ones'})", flush=True)
    if not bags:
        raise SystemExit("[demo] no successful demonstration to train on")
    return bags


def step_convert(a) -> None:
    bags = recorded_bags(a.workdir / "data_summary.json", a.keep_failed)
    # A rendered camera has no sensor noise: while the robot stands still at the start of an episode the
    # frames are identical, which the frozen-camera check (meant for a stuck driver) would exclude.
    # The first seconds of a demonstration are the scripted operator's ritual before the task (reference pose,
    # hands back down, engage: ~4.2 s into the recording at tempo 1.5); from the same standing pose the task
    # then starts, so keeping both would teach "stand still" and "reach" for one observation. The end is
    # standing still with the task done (success_hold). Both are trimmed.
    _psi0("convert", *map(str, bags), "--out", str(a.workdir / "dataset"), "--overwrite",
          "--set", "max_frozen_s=15", "--set", f"trim_start_s={a.trim_start}", "--set", f"trim_end_s={a.trim_end}",
          *[arg for item in a.convert_set for arg in ("--set", item)], "--no-progress")


def step_train(a) -> None:
    extra = ["--steps", str(a.train_steps)] if a.train_steps else []
    for item in a.train_set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"[demo] --train-set {item!r}: expected KEY=VALUE")
        extra += [f"--{key}", value]
    _psi0("train", a.train_config, "--dataset", str(a.workdir / "dataset"), "--output_dir", str(a.workdir / "train"),
          *extra)


def step_eval(a) -> None:
    from psi0_bringup.profile import ConfigError, parse_override

    for item in a.eval_set:   # checked before the first run starts, with the launch command's own parser
        try:
            node, param, _ = parse_override(item)
        except ConfigError as exc:
            raise SystemExit(f"[demo] --eval-set: {exc}") from exc
        key = f"{node}.{param}"
        if key in EVAL_OWNED:
            raise SystemExit(f"[demo] --eval-set {item!r}: each evaluation run sets {key} itself; "
                             f"use {EVAL_OWNED[key]}")
    ckpt = a.checkpoint or _newest_checkpoint(a.workdir)
    for label, driver, mode in EVAL_RUNS:
        if label not in a.labels:
            continue
        _psi0("launch", "demo_eval", "--set", f"policy.checkpoint={ckpt}", "--set", f"policy.mode={mode}",
              "--set", f"episode_runner.driver={driver}", "--set", f"episode_runner.label={label}",
              "--set", f"episode_runner.episodes={a.eval_episodes}", "--set", f"episode_runner.first_seed={a.eval_seed}",
              "--set", f"episode_runner.task={a.task}", "--set", f"episode_runner.timeout={a.timeout}",
              "--set", f"episode_runner.summary_path={a.workdir / 'eval' / (label + '.json')}",
              *(["--set", f"episode_runner.video_path={a.workdir / 'eval' / 'rtc.mp4'}",
                 "--set", "episode_runner.video_episodes=3"] if label == "rtc" else []),
              *[arg for item in a.eval_set for arg in ("--set", item)])


def step_report(a) -> None:
    from psi0_bringup.demo_report import combine_runs, write_report

    empty = [d for d in a.add_eval if not any(d.glob("*.json"))]
    if empty:  # a mistyped --add-eval must not silently shrink the report
        raise SystemExit(f"[demo] --add-eval {empty[0]}: no evaluation summaries (*.json) there")
    dirs = [a.workdir / "eval", *a.add_eval]
    summaries = [json.loads(p.read_text()) for d in dirs for p in sorted(d.glob("*.json"))]
    if not summaries:
        raise SystemExit(f"[demo] no evaluation summaries in {', '.join(map(str, dirs))}; run `psi0 demo eval` first")
    try:
        pooled = combine_runs(summaries)
    except ValueError as exc:
        raise SystemExit(f"[demo] cannot report these runs together: {exc}") from exc
    print(write_report(pooled, a.workdir))


def run(args) -> int:
    steps = STEPS if args.step == "all" else (args.step,)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in steps:
        print(f"[demo] === {name}", flush=True)
        globals()[f"step_{name}"](args)
    return 0
