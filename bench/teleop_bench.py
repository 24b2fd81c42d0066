#!/usr/bin/env python3
"""Teleop benchmarks: IK solve time, tracker-to-action latency, recorder loss under load.

    source tools/env.sh && python bench/teleop_bench.py                      # all three, recorder 600 s
    python bench/teleop_bench.py --only ik --ik-ticks 5000
    python bench/teleop_bench.py --only latency --latency-events 60
    python bench/teleop_bench.py --only recorder --record-seconds 120 --image 640x480 --lowstate-hz 500

1. IK (in-process, ROS-free): the teleop core driven at 30 Hz by the synthetic operator's demo
   script (walk, turn, squat, reach, grasp); time of each IK solve (pink + daqp, 1 QP iteration per
   tick, warm-started) and of the whole control tick (mapping + IK + retargeting + locomotion).
2. Latency (processes as deployed): `teleop_node` (installed console script, start_engaged) and this
   process, which publishes TrackerFrames at 90 Hz and GloveState at 120 Hz from the synthetic
   operator's reference pose and, every 0.6 s, moves the right wrist tracker by 3 cm. Latency =
   first received /psi0/action whose right-arm joints changed by > 1e-3 rad minus the publish time of
   the moved sample (CLOCK_REALTIME on both ends, same machine). It includes the wait for the next
   30 Hz tick (0-33 ms), DDS both ways and one IK solve.
3. Recorder (processes as deployed): `episode_recorder` and a publisher process (--role publisher)
   sending sensor_msgs/Image (rgb8, --image) at 30 Hz and unitree_hg/LowState at --lowstate-hz
   (paced by a thread, not a ROS timer), both counting what they publish (psi0 publisher-count
   protocol). One episode of --record-seconds; loss = published - recorded between two publisher
   reports inside the episode (see psi0_teleop.pubcount), and the bag is read back to count again.
All ROS traffic uses its own ROS_DOMAIN_ID so it never mixes with a running graph.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def pct(xs, q):
    return float(np.percentile(np.asarray(xs), q))


def executable(pkg: str, name: str) -> str:
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        p = Path(prefix) / "lib" / pkg / name
        if p.is_file():
            return str(p)
    raise SystemExit(f"{pkg}/{name} not installed: run `make setup` and `source tools/env.sh`")


# -- 1. IK ------------------------------------------------------------------------------------------
def bench_ik(ticks: int) -> dict:
    from psi0_teleop.config import TeleopConfig
    from psi0_teleop.devices.synthetic import SyntheticOperator, demo_script
    from psi0_teleop.teleop import TeleopCore

    core = TeleopCore(TeleopConfig())
    solve, step = [], []
    t, seed = 0.0, 0
    op = SyntheticOperator(demo_script(), seed=seed, robot_reference=core.reference)
    while len(solve) < ticks:
        if op.done():
            seed += 1
            core = TeleopCore(TeleopConfig(), ik=core.ik)
            op = SyntheticOperator(demo_script(), seed=seed, robot_reference=core.reference)
            t = 0.0
        trackers, gloves = op.poll(t)
        t0 = time.perf_counter()
        for s in trackers:
            core.on_trackers(s)
        for g in gloves:
            core.on_gloves(g)
        out = core.step(t)
        dt = time.perf_counter() - t0
        if out.ik is not None:
            solve.append(out.ik.solve_time)
            step.append(dt)
        t += 1 / 30
    r = {"ik_solves": len(solve), "ik_p50_ms": pct(solve, 50) * 1e3, "ik_p99_ms": pct(solve, 99) * 1e3,
         "ik_max_ms": max(solve) * 1e3, "tick_p50_ms": pct(step, 50) * 1e3, "tick_p99_ms": pct(step, 99) * 1e3}
    print(f"IK solve (pink + daqp, 18 DoF, 3 frame tasks + posture, 1 QP/tick): n={r['ik_solves']} "
          f"p50 {r['ik_p50_ms']:.3f} ms, p99 {r['ik_p99_ms']:.3f} ms, max {r['ik_max_ms']:.2f} ms", flush=True)
    print(f"whole teleop tick (inputs + mapping + IK + hands + locomotion): p50 {r['tick_p50_ms']:.3f} ms, "
          f"p99 {r['tick_p99_ms']:.3f} ms", flush=True)
    return r


# -- 2. latency -------------------------------------------------------------------------------------
def bench_latency(events: int) -> dict:
    import rclpy
    from psi0_msgs.msg import GloveState, TrackerFrames, WholeBodyAction
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from psi0_common import action_layout as al
    from psi0_teleop.devices import GloveHandSample, GloveSample, TrackerSample
    from psi0_teleop.devices.synthetic import Segment, SyntheticOperator
    from psi0_teleop.geometry import Pose
    from psi0_teleop.ik import WholeBodyIK
    from psi0_teleop.retarget import ergonomics_for_closure
    from psi0_teleop.ros.convert import glove_to_msg, tracker_to_msg

    ref = WholeBodyIK().reference
    op = SyntheticOperator([Segment(1.0)], seed=0, robot_reference=ref, sway=0.0)
    op.tremor = 0.0
    base = op.poll(0.0)[0][-1]
    proc = subprocess.Popen([executable("psi0_teleop", "teleop_node"), "--ros-args", "-p", "start_engaged:=true",
                             "-p", "use_robot_state:=false", "-r", "__node:=bench_teleop"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node("bench_latency")
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
    pub_t = node.create_publisher(TrackerFrames, "/psi0/teleop/trackers", qos)
    pub_g = node.create_publisher(GloveState, "/psi0/teleop/gloves", qos)
    lock = threading.Lock()
    state = {"offset": 0.0, "event_t": None, "prev": None, "lat": [], "actions": 0}

    def on_action(msg):
        now = time.time()
        arm = np.asarray(msg.action)[al.RIGHT_ARM]
        with lock:
            state["actions"] += 1
            prev, state["prev"] = state["prev"], arm
            if state["event_t"] is not None and prev is not None and np.max(np.abs(arm - prev)) > 1e-3:
                state["lat"].append(now - state["event_t"])
                state["event_t"] = None

    node.create_subscription(WholeBodyAction, "/psi0/action", on_action, 50)
    stop = threading.Event()
    threading.Thread(target=lambda: [rclpy.spin_once(node, timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                     daemon=True).start()
    glove = GloveHandSample(True, ergonomics_for_closure(0.2))
    next_event = time.time() + 8.0      # node start-up, calibration on engage, IK settling
    deadline = time.time() + 40.0 + events * 1.0
    period, k = 1 / 90, 0
    t_start = time.time()
    try:
        while len(state["lat"]) < events and time.time() < deadline:
            now = time.time()
            if now >= next_event and state["event_t"] is None:
                with lock:
                    state["offset"] = 0.03 if state["offset"] == 0.0 else 0.0
                    state["event_t"] = None
                mark = True
                next_event = now + 0.6
            else:
                mark = False
            poses = dict(base.poses)
            w = base.poses["right_wrist"]
            poses["right_wrist"] = Pose(w.pos + np.array([0.0, 0.0, -state["offset"]]), w.rot)  # PICO -z: forward
            msg = tracker_to_msg(TrackerSample(now, poses))
            pub_t.publish(msg)
            if mark:
                with lock:
                    state["event_t"] = now
            if k % 3 == 0:
                pub_g.publish(glove_to_msg(GloveSample(now, glove, glove)))
            k += 1
            time.sleep(max(0.0, t_start + k * period - time.time()))
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=10)
        node.destroy_node()
        rclpy.try_shutdown()
    lat = state["lat"]
    if not lat:
        raise SystemExit(f"latency: no action reacted to a tracker step ({state['actions']} actions received)")
    r = {"events": len(lat), "lat_p50_ms": pct(lat, 50) * 1e3, "lat_p99_ms": pct(lat, 99) * 1e3,
         "lat_max_ms": max(lat) * 1e3}
    print(f"tracker -> action latency (teleop_node process, 30 Hz tick, DDS both ways): n={r['events']} "
          f"p50 {r['lat_p50_ms']:.1f} ms, p99 {r['lat_p99_ms']:.1f} ms, max {r['lat_max_ms']:.1f} ms", flush=True)
    return r


# -- 3. recorder ------------------------------------------------------------------------------------
def role_publisher(width: int, height: int, lowstate_hz: float, qos_name: str, depth: int, nice: int) -> None:
    import signal

    if nice:
        os.nice(nice)

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from unitree_hg.msg import LowState

    from psi0_teleop.pubcount import COUNTS_TOPIC, PublishCounter, stamp_key
    from psi0_teleop.ros.convert import counts_msg

    rclpy.init()
    node = rclpy.create_node("bench_load")
    rel = ReliabilityPolicy.RELIABLE if qos_name == "reliable" else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=depth, reliability=rel, history=HistoryPolicy.KEEP_LAST)
    pub_img = node.create_publisher(Image, "/psi0/camera/image", qos)
    pub_ls = node.create_publisher(LowState, "/lowstate", qos)
    pub_c = node.create_publisher(DiagnosticArray, COUNTS_TOPIC, 10)
    counter = PublishCounter()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    data = np.random.default_rng(0).integers(0, 255, width * height * 3, dtype=np.uint8).tobytes()

    img = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=data)  # converted once
    img.header.frame_id = "head_camera"

    def images():
        k, t0 = 0, time.time()
        while not stop.is_set():
            img.header.stamp = node.get_clock().now().to_msg()
            pub_img.publish(img)
            counter.published("/psi0/camera/image", stamp_key(img.header.stamp.sec, img.header.stamp.nanosec))
            k += 1
            time.sleep(max(0.0, t0 + k / 30.0 - time.time()))

    def lowstate():
        k, t0 = 0, time.time()
        msg = LowState()
        while not stop.is_set():
            k += 1
            msg.tick = k
            pub_ls.publish(msg)
            counter.published("/lowstate", k)
            time.sleep(max(0.0, t0 + k / lowstate_hz - time.time()))

    def counts():
        while not stop.wait(0.2):
            pub_c.publish(counts_msg("bench_load", counter, time.time()))

    threads = [threading.Thread(target=f, daemon=True) for f in (images, lowstate, counts)]
    for th in threads:
        th.start()
    t0 = time.time()
    stop.wait()
    elapsed = time.time() - t0
    snap = counter.snapshot()
    print(json.dumps({t: {"count": n, "rate_hz": n / elapsed} for t, (n, _) in snap.items()}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def bench_recorder(seconds: float, width: int, height: int, lowstate_hz: float, qos_name: str, depth: int,
                   keep: bool = False, nice: int = 0) -> dict:
    import rclpy
    import yaml
    from psi0_msgs.srv import StartEpisode, StopEpisode
    from rosbags.rosbag2 import Reader

    out = Path(tempfile.mkdtemp(prefix="teleop_bench_rec_"))
    rec = subprocess.Popen([executable("psi0_teleop", "episode_recorder"), "--ros-args",
                            "-p", f"output_dir:={out}", "-p", "console_keys:=false", "-p", f"nice:={nice}",
                            "-p", "topics:=['/psi0/camera/image', '/lowstate']", "-p", "stop_drain:=0.5",
                            "-r", "__node:=bench_recorder"],
                           stdout=open(out / "recorder.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    pub = subprocess.Popen([sys.executable, __file__, "--role", "publisher", "--image", f"{width}x{height}",
                            "--lowstate-hz", str(lowstate_hz), "--qos", qos_name, "--pub-depth", str(depth),
                            "--recorder-nice", str(nice)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    rclpy.init()
    node = rclpy.create_node("bench_recorder_client")

    def call(t, name, req, timeout=120.0):
        cli = node.create_client(t, name)
        if not cli.wait_for_service(timeout_sec=30.0):
            raise SystemExit(f"recorder service {name} not available (log: {out / 'recorder.log'})")
        fut = cli.call_async(req)
        rclpy.spin_until_future_complete(node, fut, timeout_sec=timeout)
        if not fut.done():
            raise SystemExit(f"{name} timed out")
        return fut.result()

    try:
        time.sleep(4.0)   # discovery: the recorder subscribes once it sees the publishers
        start = call(StartEpisode, "/psi0/recorder/start_episode",
                     StartEpisode.Request(task="bench: recorder load", operator_name="teleop_bench"))
        if not start.success:
            raise SystemExit(f"start failed: {start.message}")
        print(f"recording {seconds:.0f} s of {width}x{height} rgb8 images at 30 Hz + lowstate at "
              f"{lowstate_hz:.0f} Hz ({qos_name}, publisher history {depth}, recorder nice {nice:+d}) into "
              f"{start.path}", flush=True)
        t_end = time.time() + seconds
        while time.time() < t_end:
            time.sleep(min(10.0, max(0.0, t_end - time.time())))
        stop = call(StopEpisode, "/psi0/recorder/stop_episode", StopEpisode.Request(discard=False))
        if not stop.success:
            raise SystemExit(f"stop failed: {stop.message}")
    finally:
        pub.terminate()
        pub_out = pub.communicate(timeout=30)[0]
        rec.terminate()
        rec.wait(timeout=60)
        node.destroy_node()
        rclpy.try_shutdown()
    rates = json.loads(pub_out.strip().splitlines()[-1])
    meta = yaml.safe_load((Path(stop.path) / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    report = json.loads(meta["custom_data"]["topic_report"])
    from psi0_teleop.pubcount import key_from_cdr

    with Reader(stop.path) as r:
        in_bag = {c.topic: c.msgcount for c in r.connections}
        ticks = [key_from_cdr(c.msgtype, bytes(raw)) for c, _, raw in r.messages() if c.topic == "/lowstate"]
    d = np.diff(ticks)
    gaps = [(int(ticks[i]), int(d[i]) - 1) for i in np.flatnonzero(d != 1)]
    res_gaps = {"lowstate_missing_ticks": int(sum(g for _, g in gaps)), "where": gaps[:20]}
    size = sum(f.stat().st_size for f in Path(stop.path).iterdir())
    res = {"seconds": seconds, "bag_bytes": size, "topics": {}, "gaps": {}, "publisher_depth": depth,
           "recorder_nice": nice, "load_avg_end": os.getloadavg()}
    for t in report["topics"]:
        res["topics"][t["topic"]] = {k: t[k] for k in ("published", "received", "written", "lost", "checked_fraction")}
        res["topics"][t["topic"]]["in_bag"] = in_bag.get(t["topic"], 0)
        res["topics"][t["topic"]]["publisher_rate_hz"] = rates.get(t["topic"], {}).get("rate_hz")
        tr = res["topics"][t["topic"]]
        print(f"  {t['topic']:22s} publisher {tr['publisher_rate_hz']:.1f} Hz; in the episode: published "
              f"{tr['published']} (checked window, {100 * tr['checked_fraction']:.0f}%), written {tr['written']}, "
              f"in bag {tr['in_bag']}, lost {tr['lost']}", flush=True)
    res["gaps"] = res_gaps
    print(f"  lowstate ticks missing inside the bag (sequence check, independent of the counts): "
          f"{res_gaps['lowstate_missing_ticks']} {res_gaps['where'][:5]}", flush=True)
    print(f"  bag size {size / 1e9:.2f} GB, write errors {report['write_errors']}", flush=True)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="ik,latency,recorder", help="comma list of: ik, latency, recorder")
    ap.add_argument("--ik-ticks", type=int, default=3000)
    ap.add_argument("--latency-events", type=int, default=40)
    ap.add_argument("--record-seconds", type=float, default=600.0)
    ap.add_argument("--image", default="640x480", help="recorder load image size WxH")
    ap.add_argument("--lowstate-hz", type=float, default=500.0)
    ap.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable",
                    help="reliability of the load publishers (the recorder matches it)")
    ap.add_argument("--pub-depth", type=int, default=1000,
                    help="load publishers' KEEP_LAST history depth: a reliable writer's retransmit window (it drops "
                         "its oldest unacknowledged sample when the recorder stalls longer than depth / rate; "
                         "1000 = 2 s of lowstate, 100 lost 1 message in 10 min, docs/benchmarks.md)")
    ap.add_argument("--recorder-nice", type=int, default=0,
                    help="niceness change of the recorder and of the load publisher (e.g. -10: both ahead of "
                         "other users' batch jobs, as a robot computer would run them)")
    ap.add_argument("--keep-bag", action="store_true", help="keep the recorded bag (about 1.7 GB per minute)")
    ap.add_argument("--role", default="", help=argparse.SUPPRESS)
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    a = ap.parse_args()
    w, h = (int(x) for x in a.image.lower().split("x"))
    if a.role == "publisher":
        role_publisher(w, h, a.lowstate_hz, a.qos, a.pub_depth, a.recorder_nice)
        return
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(201, 230)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    print(f"teleop bench on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"(shared machine), ROS_DOMAIN_ID {os.environ['ROS_DOMAIN_ID']}", flush=True)
    only = set(a.only.split(","))
    results = {}
    if "ik" in only:
        results["ik"] = bench_ik(a.ik_ticks)
    if "latency" in only:
        results["latency"] = bench_latency(a.latency_events)
    if "recorder" in only:
        results["recorder"] = bench_recorder(a.record_seconds, w, h, a.lowstate_hz, a.qos, a.pub_depth,
                                             a.keep_bag, a.recorder_nice)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
