#!/usr/bin/env python3
"""Policy and RTC benchmarks: control-tick jitter, chunk-seam jumps, inference latency.

    python bench/policy_bench.py                      # all three, CPU, tiny + mid
    python bench/policy_bench.py --only latency --device cuda --sizes tiny mid
    python bench/policy_bench.py --only latency --device cuda --sizes full --backbone-path /models/Qwen3-VL-2B-Instruct

(a) jitter: a real 30 Hz ControlLoop drives RtcRuntime (rtc mode) while the inference thread runs the
    real model (random weights) back to back; jitter = wake-up time minus deadline.
(b) seams: rtc vs naive vs sync on a fake clock (deterministic) with injected latency, all with the same
    policy: the exact optimum of the training-time-RTC flow loss for smooth trajectories with a random,
    unobservable phase (a multimodal task where a chunk without a prefix picks another mode), sampled by
    the project's Euler sampler with prefix writing. (A random-weight network has no smooth chunks, and
    fitting one takes too long on this shared CPU.)
    seam jump = largest joint-dim change at a chunk switch (includes the motion's own step); switch gap =
    largest difference between the new action and what the old chunk planned for that tick; step jump = largest change between any two
    consecutive ticks (catches a jump moved from the switch into the chunk); no-fresh = share of ticks
    that held the last action (dry buffer or sync pause).
(c) latency: ChunkPolicy.infer (backbone + K = 8 Euler steps, with a 6-action prefix) per size.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src/psi0_policy"), str(ROOT / "src/psi0_common")]

from psi0_policy.model import NormStats, Psi0Model, Psi0Processor, Stats, flow, model_config  # noqa: E402
from psi0_policy.model.policy import ChunkPolicy, Observation  # noqa: E402
from psi0_policy.model.process_policy import ProcessPolicy  # noqa: E402
from psi0_policy.rtc import ControlLoop, FakeClock, RtcConfig, RtcRuntime  # noqa: E402

H, A = 30, 36


def make_obs(task="pick up the red cube"):
    rng = np.random.default_rng(0)
    return Observation(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), np.zeros(32), task)


def load_policy(size, device, backbone_path, seed=0):
    if size == "full":
        torch.manual_seed(seed)
        cfg = model_config("full", backbone_path=backbone_path)
        model = Psi0Model(cfg).to(device)
        proc = Psi0Processor.from_backbone_dir(cfg, backbone_path)
        return ChunkPolicy(model, NormStats.identity(36, 32), proc, seed=seed)
    return ChunkPolicy.random(size, device=device, seed=seed)


def bench_latency(sizes, device, backbone_path, runs):
    print(f"\n## (c) inference latency per chunk (device {device}, K = 8, prefix 6, batch 1)")
    print("| size | params backbone / expert | warm-up (first) | mean | p50 | p99 |")
    print("|---|---|---|---|---|---|")
    obs = make_obs()
    for size in sizes:
        pol = load_policy(size, device, backbone_path)
        nb = sum(p.numel() for p in pol.model.backbone.parameters()) / 1e6
        ne = sum(p.numel() for p in pol.model.expert.parameters()) / 1e6
        first = pol.warmup(obs, 1)[0]
        pol.warmup(obs, 2)
        prefix = np.zeros((6, A))
        times = []
        for _ in range(runs):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            pol.infer(obs, prefix)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        t = np.array(times) * 1e3
        print(f"| {size} | {nb:.1f}M / {ne:.1f}M | {first * 1e3:.0f} ms | {t.mean():.1f} ms | "
              f"{np.percentile(t, 50):.1f} ms | {np.percentile(t, 99):.1f} ms |")


def _jitter_run(size, device, seconds, prio, in_process, obs):
    """One 30 Hz run; size None = idle loop. Returns (jitter stats, runtime stats or None, rt_error)."""
    if size is None:
        loop = ControlLoop(lambda: None, 30.0, rt_priority=prio)
        loop.start()
        time.sleep(seconds)
        loop.stop()
        return loop.jitter_stats(), None, loop.rt_error
    if in_process:
        pol = load_policy(size, device, "")
    else:
        pol = ProcessPolicy(functools.partial(ChunkPolicy.random, size, device=device), torch_threads=1)
    try:
        pol.warmup(obs, 2)
        rt = RtcRuntime(pol, RtcConfig(), lambda: (obs, ""))
        loop = ControlLoop(rt.tick, 30.0, rt_priority=prio)
        rt.start()
        loop.start()
        time.sleep(seconds)
        loop.stop()
        rt.stop()
    finally:
        if not in_process:
            pol.close()
    return loop.jitter_stats(), rt.snapshot(), loop.rt_error


def bench_jitter(sizes, device, seconds, rt_priority):
    print(f"\n## (a) 30 Hz control-tick jitter while inference runs ({seconds:.0f} s each, rtc mode)")
    print("| model | inference runs in | control thread | ticks | jitter p50 | p99 | max | missed | chunks | "
          "mean latency | dry ticks |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    obs = make_obs()
    prios = [0] + ([rt_priority] if rt_priority else [])
    runs = [(None, p, True) for p in prios] + [(s, p, ip) for ip in (True, False) for s in sizes for p in prios]
    for size, prio, in_process in runs:
        j, st, rt_err = _jitter_run(size, device, seconds, prio, in_process, obs)
        sched = (f"SCHED_FIFO {prio}" if prio else "normal") + (" (refused)" if rt_err else "")
        where = "-" if size is None else ("control process (thread)" if in_process else "child process")
        if st is None:
            tail = "- | - | - |"
        else:
            lat = np.mean(st.latencies) * 1e3 if st.latencies else float("nan")
            tail = f"{st.chunks} | {lat:.0f} ms | {st.dry_ticks} |"
        print(f"| {size or 'idle (no inference)'} | {where} | {sched} | {j['n']} | {j['p50_ms']:.3f} ms | "
              f"{j['p99_ms']:.3f} ms | {j['max_ms']:.3f} ms | {j['missed']} | {tail}")


# ---- (b) seams -----------------------------------------------------------------------------------------
PERIOD = 45               # control steps per cycle of the test motion: 1.5 s at 30 Hz, whose fastest joint step
                          # (0.0335 rad) is our sim demonstrations' mean per-tick step (0.034 rad, docs/benchmarks.md)
AMP = 0.8                  # normalized units; 1 normalized unit = SCALE rad
SCALE = 0.3


def seam_floor(period: int) -> float:
    """rtc / naive seam ratio of a perfect RTC policy on this task: rtc's seam is the motion's own largest step
    (AMP*SCALE*omega, as every phase is present across the 36 dims), naive's is E max_j |sin(x_j + a) - sin(x_j + b)|
    * AMP*SCALE = 4/pi * AMP*SCALE for independent uniform phases. Ratio = omega * pi / 4 = pi^2 / (2 period)."""
    return np.pi ** 2 / (2 * period)


class IdealSinusoidPolicy:
    """The exact minimiser of the training-time-RTC flow loss for one multimodal task, run through the
    project's own sampler (flow.euler_sample: clean prefix written in at every step, K = 8).

    Data: every dim follows AMP * sin(omega k + theta + 0.2 dim) with a phase theta ~ U(0, 2 pi) the
    observation does not reveal (a continuum of modes). Velocity at per-token time t: E[x1 | x_t] - E[eps | x_t]
    with the posterior over theta (grid of 256) from x_i ~ N(t_i mu_i, (1 - t_i)^2 + sigma_min^2). Without a
    prefix each chunk draws a new phase (mode); with one it continues the committed motion."""

    def __init__(self, num_steps=8, seed=0, phases=256, sigma_min=0.02, period=PERIOD):
        k = torch.arange(H).view(1, H, 1).double()
        dims = torch.arange(A).view(1, 1, A).double()
        theta = torch.linspace(0, 2 * np.pi, phases + 1)[:-1].double().view(-1, 1, 1)
        self.period = period
        self.mu = AMP * torch.sin(2 * np.pi / period * k + theta + 0.2 * dims)   # (M, H, A)
        self.num_steps, self.sigma_min = num_steps, sigma_min
        self.generator = torch.Generator().manual_seed(seed)

    def _velocity(self, x, t):
        x, t = x.double()[0], t.double()[0]                        # (H, A), (H,)
        var = (1 - t) ** 2 + self.sigma_min ** 2
        err = ((x[None] - t[None, :, None] * self.mu) ** 2).sum(-1) / var[None]   # (M, H)
        logw = -0.5 * err.sum(-1)
        w = torch.softmax(logw, 0)
        x1 = (w[:, None, None] * self.mu).sum(0)
        eps = (x - t[:, None] * x1) / (1 - t[:, None]).clamp(min=1e-6)
        return (x1 - eps)[None].float()

    def infer(self, obs, prefix_norm):
        noise = torch.randn(1, H, A, generator=self.generator)
        prefix = None if prefix_norm is None else torch.from_numpy(np.asarray(prefix_norm)).float()[None]
        out = flow.euler_sample(self._velocity, noise, self.num_steps, prefix)
        chunk = out[0].double().numpy()
        if prefix_norm is not None:
            chunk[: len(prefix_norm)] = prefix_norm
        return chunk

    def normalize(self, raw):
        return np.asarray(raw) / SCALE

    def unnormalize(self, norm):
        return np.asarray(norm) * SCALE


def fit_tiny(steps, seed=0, period=PERIOD):
    """The tiny Psi0 network (random frozen backbone, one fixed observation) with its action expert fitted to
    the same multimodal task by training-time RTC (flow.sample_times: clean prefix of 0-7, masked loss)."""
    torch.manual_seed(seed)
    cfg = model_config("tiny")
    model, proc = Psi0Model(cfg), Psi0Processor(cfg)
    obs = make_obs()
    with torch.no_grad():
        ctx = model.encode(proc([obs.image], [obs.task], np.zeros((1, 32))))
    batch = 64
    ctx_b = type(ctx)(ctx.features.expand(batch, -1, -1), ctx.mask.expand(batch, -1), ctx.state.expand(batch, -1))
    ideal = IdealSinusoidPolicy(period=period)
    opt = torch.optim.AdamW(model.expert.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for i in range(steps):
        x1 = ideal.mu[torch.randint(0, ideal.mu.shape[0], (batch,), generator=gen)].float()
        t, loss_mask = flow.sample_times(batch, H, 8, generator=gen)
        eps = torch.randn(batch, H, A, generator=gen)
        pred = model.velocity(ctx_b, flow.interpolate(x1, eps, t), t)
        w = loss_mask.float()[..., None]
        loss = (((pred - (x1 - eps)) ** 2) * w).sum() / (w.sum() * A)
        opt.zero_grad()
        loss.backward()
        for g in opt.param_groups:
            g["lr"] = 1e-3 * 0.5 * (1 + np.cos(np.pi * i / steps))
        opt.step()
        if (i + 1) % 500 == 0:
            print(f"  fit step {i + 1}/{steps}: loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"fitted the tiny network's expert: {steps} steps (batch {batch}) in {time.perf_counter() - t0:.0f} s, "
          f"final loss {loss.item():.3f}")
    ns = NormStats(Stats("meanstd", np.zeros(A), np.full(A, SCALE)), Stats("meanstd", np.zeros(32), np.ones(32)))
    return ChunkPolicy(model.eval(), ns, proc, seed=seed)


def run_mode(policy, mode, latency_ticks, ticks, seed):
    cfg = RtcConfig(mode=mode)
    clock = FakeClock()
    obs = make_obs()
    policy.generator.manual_seed(seed)
    rt = RtcRuntime(policy, cfg, lambda: (obs, ""), clock=clock, injected_latency=latency_ticks * cfg.dt)
    rt.start()
    actions = []
    try:
        for _ in range(ticks):
            clock.advance(cfg.dt)
            out = rt.tick()
            if out.action is not None:
                actions.append(out.action)
    finally:
        rt.stop()
    st = rt.snapshot()
    acts = np.array(actions)
    step = np.abs(np.diff(acts[:, :31], axis=0)).max(axis=1)
    counted = st.ticks - st.waiting_ticks
    return {"seam_mean": float(np.mean(st.seam_jumps)) if st.seam_jumps else 0.0,
            "seam_max": float(np.max(st.seam_jumps)) if st.seam_jumps else 0.0,
            "gap_mean": float(np.mean(st.seam_gaps)) if st.seam_gaps else 0.0,
            "step_max": float(step.max()), "step_p50": float(np.median(step)),
            "no_fresh": st.dropped_ticks / max(1, counted), "paused": st.paused_ticks, "dry": st.dry_ticks,
            "chunks": st.chunks, "clamped": st.delay_clamped}


def bench_seams(latencies, ticks, fit_steps=0, periods=(PERIOD,)):
    print(f"\n## (b) chunk seams: rtc vs naive vs sync, one policy for all three modes (multimodal sinusoid task, "
          f"fake clock, {ticks} ticks, H 30, s_min 15, d0 6, max delay 8, K 8; joint units rad)")
    for period in periods:
        policies = [("ideal denoiser", IdealSinusoidPolicy(period=period))]
        if fit_steps and period == periods[0]:
            policies.append(("tiny network, fitted", fit_tiny(fit_steps, period=period)))
        print(f"\nmotion period {period} ticks ({period / 30:.2f} s): largest true step between ticks = "
              f"{AMP * SCALE * 2 * np.pi / period:.4f} rad; a perfect RTC policy's rtc / naive seam ratio "
              f"= pi^2 / (2 period) = {100 * seam_floor(period):.1f}%")
        for name, policy in policies:
            print(f"\npolicy: {name}")
            _seam_table(policy, latencies, ticks)


def _seam_table(policy, latencies, ticks):
    print("| injected latency | mode | seam jump mean | seam jump max | switch gap mean | max step (any tick) | "
          "median step | ticks without fresh action | paused | dry | chunks | prefix clamps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for lat in latencies:
        res = {}
        for mode in ("rtc", "naive", "sync"):
            r = res[mode] = run_mode(policy, mode, lat, ticks, seed=1)
            print(f"| {lat} ticks ({lat / 30 * 1e3:.0f} ms) | {mode} | {r['seam_mean']:.4f} | {r['seam_max']:.4f} | "
                  f"{r['gap_mean']:.4f} | {r['step_max']:.4f} | {r['step_p50']:.4f} | {100 * r['no_fresh']:.1f}% | {r['paused']} | {r['dry']} | {r['chunks']} | "
                  f"{r['clamped']} |")
        ratio = res["rtc"]["seam_mean"] / max(res["naive"]["seam_mean"], 1e-12)
        ratio_max = res["rtc"]["seam_max"] / max(res["naive"]["seam_max"], 1e-12)
        print(f"| {lat} ticks | **rtc / naive** | **{100 * ratio:.1f}%** | **{100 * ratio_max:.1f}%** | | | | | | | | |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("jitter", "seams", "latency"), action="append")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--sizes", nargs="+", default=["tiny", "mid"], choices=("tiny", "mid", "full"))
    ap.add_argument("--backbone-path", default="", help="local Qwen3-VL-2B-Instruct dir (size full)")
    ap.add_argument("--seconds", type=float, default=8.0, help="jitter run per model")
    ap.add_argument("--runs", type=int, default=10, help="latency runs per size")
    ap.add_argument("--rt-priority", type=int, default=50, help="also measure with a SCHED_FIFO control thread (0 = skip)")
    ap.add_argument("--ticks", type=int, default=900)
    ap.add_argument("--latencies", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--motion-periods", type=int, nargs="+", default=[PERIOD],
                    help="seam task: control steps per cycle of the test motion (a sweep shows how the rtc / naive "
                         "ratio depends on how fast the task moves; the fitted network uses the first)")
    ap.add_argument("--fit-steps", type=int, default=0,
                    help="also fit the tiny network to the seam task for this many steps and compare (slow on CPU)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch default; 1 avoids OpenMP oversubscription on a shared CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here")
    parts = args.only or ["latency", "jitter", "seams"]
    print(f"host: {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    if "latency" in parts:
        bench_latency(args.sizes, args.device, args.backbone_path, args.runs)
    if "jitter" in parts:
        bench_jitter([s for s in args.sizes if s != "full"], args.device, args.seconds, args.rt_priority)
    if "seams" in parts:
        if min(args.motion_periods) < 4:
            ap.error("--motion-periods: at least 4 control steps per cycle")
        bench_seams(args.latencies, args.ticks, args.fit_steps, args.motion_periods)
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
