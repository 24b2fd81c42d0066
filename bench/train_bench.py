#!/usr/bin/env python3
"""Trainer benchmark: samples/s and the share of step time spent waiting for data, memory per GPU.

Throughput: the `debug_stage3` config (tiny random Psi0 model, frozen tiny VLM, batch 8, RTC on) trains on
in-memory synthetic episodes with 240x320 uint8 camera frames (the converted dataset's size, so the
processor's resize + patchify cost is real), or on a converted dataset (--dataset). The first
`--warmup` steps are excluded. Printed per DataLoader worker count: samples/s and data-wait share
(time blocked in next(loader) / step time). Goal: data wait < 10 % of step time.

Memory: the `full_stage*` configs' memory per GPU estimated from the config (psi0_training.train.memory:
weights, gradients, AdamW states, activations), and measured with CUDA when a GPU is present.

Usage: source tools/env.sh && python bench/train_bench.py [--steps 30] [--workers 0 2] [--gpus 8]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import torch


def throughput(args, workers: int) -> dict:
    from psi0_training.train.configs import get_config
    from psi0_training.train.loop import train
    from psi0_training.train.synthetic import synthetic_split

    out = tempfile.mkdtemp(prefix="psi0_train_bench_")
    try:
        over = {"steps": args.warmup + args.steps, "output_dir": out, "progress": False, "tensorboard": False,
                "eval_every": 0, "save_every": 10 ** 9, "num_workers": workers, "val_episodes": 0,
                "log_every": 1, "batch_size": args.batch}
        if args.dataset:
            over["dataset"] = args.dataset
        cfg = get_config(args.config, over)
        data = (None, None, None) if args.dataset else synthetic_split(
            cfg.horizon, n_train=4, n_val=0, length=120, action_dim=cfg.action_dim, state_dim=cfg.state_dim,
            image_hw=(240, 320))
        t0 = time.perf_counter()
        r = train(cfg, data[0], data[1], data[2], say=lambda *a: None)
        wall = time.perf_counter() - t0
        from psi0_training.train.logs import read_metrics
        rows = [m for m in read_metrics(out) if "perf/samples_per_s" in m]
        # cumulative figures at step `warmup` and at the end -> the measured window only
        a, b = rows[args.warmup - 1], rows[-1]
        busy_a = args.warmup * cfg.batch_size / a["perf/samples_per_s"]
        busy_b = len(r.losses) * cfg.batch_size / b["perf/samples_per_s"]
        wait_a, wait_b = a["perf/data_wait_fraction"] * busy_a, b["perf/data_wait_fraction"] * busy_b
        busy, wait = busy_b - busy_a, wait_b - wait_a
        return {"workers": workers, "samples_per_s": args.steps * cfg.batch_size / busy, "wait": wait / busy,
                "step_ms": 1000 * busy / args.steps, "wall_s": wall}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def memory(args) -> None:
    from psi0_training.train.configs import REGISTRY
    from psi0_training.train.memory import GB, estimate, measure_cuda

    print(f"\nmemory per GPU, estimated ({args.gpus} GPUs; GiB):")
    print("| config | parallel | params (trained) | micro-batch | weights | grads | AdamW | activations | total "
          "| measured |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("full_stage1", "full_stage2", "full_stage3"):
        cfg = REGISTRY[name]
        e = estimate(cfg, gpus=args.gpus)
        measured = measure_cuda(cfg) if args.measure and cfg.backbone_path else None
        print(f"| {name} | {e['parallel']} | {e['params'] / 1e9:.2f}B ({e['trained_params'] / 1e9:.2f}B) | "
              f"{e['micro_batch']} | {e['weights'] / GB:.1f} | {e['gradients'] / GB:.1f} | {e['optimizer'] / GB:.1f} | "
              f"{e['activations'] / GB:.1f} | {e['total'] / GB:.1f} | "
              f"{'%.1f' % (measured / GB) if measured else 'no GPU' if not torch.cuda.is_available() else 'n/a'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="debug_stage3")
    ap.add_argument("--dataset", default="", help="a converted dataset instead of in-memory synthetic data")
    ap.add_argument("--steps", type=int, default=30, help="measured steps")
    ap.add_argument("--warmup", type=int, default=3, help="steps excluded from the figures")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--gpus", type=int, default=8, help="GPUs of the memory estimate")
    ap.add_argument("--measure", action="store_true", help="also measure memory (needs CUDA and a local backbone)")
    args = ap.parse_args()
    print(f"{args.config}, batch {args.batch}, {args.steps} steps after {args.warmup} warm-up, "
          f"torch threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.1f}")
    print("| workers | samples/s | step ms | data wait |")
    print("|---|---|---|---|")
    for w in args.workers:
        r = throughput(args, w)
        print(f"| {w} | {r['samples_per_s']:.1f} | {r['step_ms']:.0f} | {100 * r['wait']:.1f} % |", flush=True)
    memory(args)
    print(f"\nload avg at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
