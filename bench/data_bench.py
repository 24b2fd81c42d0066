"""Data pipeline benchmark: conversion speed (real-time multiples), peak memory vs episode length, loader speed.

    source tools/env.sh && python bench/data_bench.py [--lengths 15 30 60] [--workdir /tmp/psi0_data_bench]

Episodes are synthetic but realistic in volume: camera 640x480 rgb8 at 30 Hz,
LowState 500 Hz, both Dex3 states 100 Hz, actions 30 Hz, converted to the
training resolution 240x320 (mp4 + raw uint8 shards). Each conversion runs in
a fresh process so its peak RSS is its own. "CPU x" divides episode length by
the CPU seconds the conversion used (what an idle machine would give per core
in use); "wall x" is what this (possibly shared) machine gave.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from psi0_training.data.convert import convert
from psi0_training.data.config import ConvertConfig
bags, out, jobs = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
t0, c0 = time.perf_counter(), time.process_time()
convert(bags, out, ConvertConfig(), jobs=jobs, progress=False, log=lambda *_: None)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
# VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak over exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"wall": wall, "cpu": cpu + ru.ru_utime + ru.ru_stime, "self_rss_mb": hwm,
                  "child_rss_mb": ru.ru_maxrss / 1024 if jobs > 1 else 0.0}))
"""


def convert_in_child(bags, out: Path, jobs: int = 1) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", CHILD, ",".join(map(str, bags)), str(out), str(jobs)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def loader_bench(root: Path, seconds: float = 5.0) -> dict:
    import numpy as np
    import torch

    from psi0_training.data.dataset import Psi0Dataset

    out = {}
    for source in ("raw", "video"):
        ds = Psi0Dataset(root, action_horizon=30, image_source=source)
        rng = np.random.default_rng(0)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 2:
            ds[int(rng.integers(len(ds)))]
            n += 1
        out[f"random_access_{source}_samples_per_s"] = n / (time.perf_counter() - t0)
    ds = Psi0Dataset(root, action_horizon=30)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2, persistent_workers=True)
    it, n = iter(loader), 0
    next(it)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        try:
            n += len(next(it)["action"])
        except StopIteration:
            it = iter(loader)
    out["dataloader_2_workers_batch32_samples_per_s"] = n / (time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=float, nargs="+", default=[15, 30, 60], help="episode lengths (s)")
    ap.add_argument("--workdir", default="/tmp/psi0_data_bench")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    from psi0_training.data.synthetic import SynthSpec, write_episode

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    bags = {}
    for length in args.lengths:
        bags[length] = write_episode(work / f"ep_{length:g}s", SynthSpec(duration_s=length, storage="mcap"))
    print("\nconversion, one episode per run (fresh process, jobs=1):")
    print(f"{'episode':>8} {'wall s':>8} {'wall x':>7} {'CPU s':>7} {'CPU x':>7} {'peak RSS MB':>12}")
    rows = []
    for length, bag in bags.items():
        r = convert_in_child([bag], work / f"out_{length:g}")
        rss = max(r["self_rss_mb"], r["child_rss_mb"])
        rows.append((length, r, rss))
        print(f"{length:>7g}s {r['wall']:8.2f} {length / r['wall']:7.1f} {r['cpu']:7.2f} {length / r['cpu']:7.1f} "
              f"{rss:12.0f}")
    two = [bags[args.lengths[0]], write_episode(work / "ep_b", SynthSpec(duration_s=args.lengths[0], start_ns=2 * 10**18))]
    r = convert_in_child(two, work / "out_jobs2", jobs=2)
    total = 2 * args.lengths[0]
    print(f"\n2 episodes x {args.lengths[0]:g}s with --jobs 2: wall {r['wall']:.2f} s = {total / r['wall']:.1f}x real time "
          f"(CPU {r['cpu']:.2f} s)")
    print(f"load average at end of conversions: {os.getloadavg()[0]:.1f}")
    lb = loader_bench(work / f"out_{args.lengths[-1]:g}")
    print("\nloader (240x320 uint8 image + 32-D state + 30x36 action chunk):")
    for k, v in lb.items():
        print(f"  {k}: {v:.0f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
