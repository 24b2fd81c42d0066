#!/usr/bin/env python3
"""Benchmark of the simulated G1 as another process sees it.

Starts `sim_node` (rendering on) as a child process, subscribes from this
process, and prints:
- real-time factor (from the sim's /diagnostics, rendering on);
- /lowstate receive rate and inter-message interval p50/p99/max;
- head image receive rate and capture-to-receipt latency (stamp -> receipt);
- CPU time used by the sim process.

Usage: source tools/env.sh && python bench/sim_bench.py [--duration 20] [--warmup 3]
Goals (2-core machine): RTF >= 1.0, /lowstate >= 450 Hz, image 30 +- 1 Hz.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds ignored after the first message")
    ap.add_argument("--param", action="append", default=[], help="extra sim_node parameter name:=value")
    ap.add_argument("--capacity", type=float, default=5.0,
                    help="seconds of the unpaced in-process run (0 = skip)")
    args = ap.parse_args()
    if args.capacity > 0:
        capacity(args.capacity)

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from unitree_hg.msg import LowState

    from psi0_common import topics

    cmd = [sys.executable, "-m", "psi0_sim.sim_node", "--ros-args", "-p", "camera_enabled:=true"]
    for p in args.param:
        cmd += ["-p", p]
    sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    rclpy.init()
    node = rclpy.create_node("sim_bench")
    lowstate_t: list[float] = []
    image_t: list[float] = []
    latency: list[float] = []
    rtf: list[float] = []
    measuring = {"on": False}

    def on_lowstate(_msg):
        if measuring["on"]:
            lowstate_t.append(time.monotonic())

    def on_image(msg):
        if measuring["on"]:
            now = time.time_ns()
            image_t.append(time.monotonic())
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            latency.append((now - stamp) / 1e6)

    def on_diag(msg):
        if measuring["on"]:
            for st in msg.status:
                for kv in st.values:
                    if kv.key == "real_time_factor":
                        rtf.append(float(kv.value))

    node.create_subscription(LowState, topics.LOWSTATE, on_lowstate, qos_profile_sensor_data)
    node.create_subscription(Image, topics.SIM_IMAGE, on_image, qos_profile_sensor_data)
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, 10)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    try:
        t_start = time.monotonic()
        got_first = {"v": False}

        def first(_m):
            got_first["v"] = True
        probe = node.create_subscription(LowState, topics.LOWSTATE, first, qos_profile_sensor_data)
        while not got_first["v"]:
            ex.spin_once(timeout_sec=0.1)
            if time.monotonic() - t_start > 30 or sim.poll() is not None:
                print("sim_node did not publish /lowstate within 30 s:\n" + (sim.stderr.read() if sim.poll() is not None else ""))
                return 1
        node.destroy_subscription(probe)
        t_end_warm = time.monotonic() + args.warmup
        while time.monotonic() < t_end_warm:
            ex.spin_once(timeout_sec=0.05)
        cpu0 = _cpu_seconds(sim.pid)
        measuring["on"] = True
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.duration:
            ex.spin_once(timeout_sec=0.05)
        measuring["on"] = False
        elapsed = time.monotonic() - t0
        cpu = _cpu_seconds(sim.pid) - cpu0
    finally:
        os.killpg(sim.pid, signal.SIGINT)
        try:
            code = sim.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(sim.pid, signal.SIGKILL)
            code = "killed"
        node.destroy_node()
        rclpy.try_shutdown()

    ls = np.diff(lowstate_t) * 1000.0
    im = np.diff(image_t)
    print(f"sim_bench: {elapsed:.1f} s measured, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f}")
    print(f"real-time factor (rendering on): mean {np.mean(rtf) if rtf else float('nan'):.3f}, "
          f"min {np.min(rtf) if rtf else float('nan'):.3f}")
    print(f"/lowstate received: {len(lowstate_t) / elapsed:.1f} Hz; interval p50 {np.percentile(ls, 50):.2f} ms, "
          f"p99 {np.percentile(ls, 99):.2f} ms, max {ls.max():.2f} ms")
    print(f"image received: {len(image_t) / elapsed:.2f} Hz (interval p99 {np.percentile(im, 99) * 1000:.1f} ms); "
          f"capture-to-receipt latency p50 {np.percentile(latency, 50):.1f} ms, p99 {np.percentile(latency, 99):.1f} ms")
    print(f"sim process CPU: {cpu / elapsed * 100:.0f}% of one core; sim exit code on SIGINT: {code}")
    return 0


def capacity(seconds: float) -> None:
    """Unpaced core run (no ROS), rendering on: how much faster than real time the sim could go."""
    from psi0_sim.config import SimConfig
    from psi0_sim.robot import G1Sim
    from psi0_sim.runtime import SimRuntime

    sim = G1Sim(SimConfig(real_time=False))
    frames = []
    rt = SimRuntime(sim, on_lowstate=lambda s: None, on_frame=lambda f: frames.append(f.render_ms))
    rt.start()
    time.sleep(1.0)
    t0, s0, n0 = time.monotonic(), sim.data.time, len(frames)
    time.sleep(seconds)
    t1, s1, n1 = time.monotonic(), sim.data.time, len(frames)
    rt.stop()
    ms = np.array(frames[n0:n1])
    print(f"capacity (unpaced, in-process, rendering on): real-time factor {(s1 - s0) / (t1 - t0):.2f}, "
          f"{(n1 - n0) / (t1 - t0):.1f} renders/s, render p50 {np.percentile(ms, 50):.1f} ms "
          f"p99 {np.percentile(ms, 99):.1f} ms")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


if __name__ == "__main__":
    raise SystemExit(main())
