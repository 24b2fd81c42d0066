#!/usr/bin/env python3
"""AMO bridge benchmarks: command-loop period jitter and e-stop -> damping latency.

    source tools/env.sh && python bench/bridge_bench.py               # 50 and 500 Hz; no load, torch MLP, policy node
    python bench/bridge_bench.py --rates 50 --seconds 20 --estops 10 --realtime-priority 50 --receiver-priority 50

Processes, as deployed (one machine, Fast DDS, localhost):
- `amo_bridge_node` (installed console script; backend `hold`, so no weights are needed and the loop
  cost is the bridge's own: safety checks, shaping, CRC, message building);
- a robot stand-in (`--role robot`): /lowstate at 500 Hz and a policy action stream at 30 Hz;
- a load, per row (`--load`): none; a torch MLP running CPU inference back to back on every core
  (`--role load`, the worst case); or the installed policy node itself (a random `--policy-size` model
  in rtc mode, one torch thread) inferring from the stand-in's 30 Hz image and Dex3 states, its actions
  remapped to a side topic;
- this process: receives /lowcmd, times every arrival, triggers e-stops.

Jitter is |period - nominal| between consecutive LowCmds as received by this process (end to end:
bridge thread wake-up + DDS + receiver), and the command loop's own (its /diagnostics over the last
1000 LowCmds: |interval between two sends - interval between their deadlines|, and send time minus
deadline). E-stop
latency: std_msgs/Bool published here -> first damping LowCmd (kp = 0) received here, CLOCK_MONOTONIC
on both ends; "in the bridge": the e-stop's arrival in the bridge process -> damping LowCmd handed to
DDS (its /diagnostics `last_estop_reaction_ms`). Figures go to stdout; docs/benchmarks.md records them.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def role_robot() -> None:
    import rclpy
    from psi0_msgs.msg import WholeBodyAction
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from unitree_hg.msg import HandState, LowState, MotorState

    from psi0_common import action_layout as al
    from psi0_common import g1, topics

    rclpy.init()
    node = rclpy.create_node("bench_robot")
    pub = node.create_publisher(LowState, topics.LOWSTATE, qos_profile_sensor_data)
    qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1)
    pub_action = node.create_publisher(WholeBodyAction, topics.ACTION, qos)
    msg = LowState()
    msg.mode_machine = 5
    msg.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    for i, q in enumerate(g1.DEFAULT_BODY_POSE):
        msg.motor_state[i].q = float(q)
    action = WholeBodyAction(source=WholeBodyAction.SOURCE_POLICY)
    action.action = [float(v) for v in al.standing_action()]
    node.create_timer(0.002, lambda: pub.publish(msg))
    node.create_timer(1 / 30, lambda: pub_action.publish(action))
    # What a policy node needs to run inference: the head image (30 Hz) and both Dex3 states (100 Hz).
    rng = np.random.default_rng(0)
    image = Image(height=240, width=320, encoding="rgb8", step=320 * 3,
                  data=rng.integers(0, 256, 240 * 320 * 3, dtype=np.uint8).tobytes())
    pub_image = node.create_publisher(Image, topics.IMAGE, qos_profile_sensor_data)
    hand = HandState(motor_state=[MotorState() for _ in range(g1.NUM_HAND)])
    pub_hands = [node.create_publisher(HandState, name, qos_profile_sensor_data) for name in topics.DEX3_STATE.values()]

    def publish_image():
        image.header.stamp = node.get_clock().now().to_msg()
        pub_image.publish(image)

    node.create_timer(1 / 30, publish_image)
    node.create_timer(0.01, lambda: [p.publish(hand) for p in pub_hands])
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, Exception):
        pass


def role_load() -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 2)
    net = torch.nn.Sequential(*[torch.nn.Linear(1024, 1024) for _ in range(8)])
    x = torch.randn(64, 1024)
    try:
        with torch.inference_mode():
            while True:
                net(x)
    except KeyboardInterrupt:
        pass


def start(role: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--role", role], start_new_session=True)


def start_policy(model_size: str) -> subprocess.Popen:
    """The installed policy node with a random model, inferring in rtc mode from the stand-in's image and
    state; its actions go to a side topic so the bridge keeps the stand-in's deterministic stream."""
    exe = ROOT / "install/psi0_policy/lib/psi0_policy/policy_node"
    return subprocess.Popen([str(exe), "--ros-args", "-p", f"model_size:={model_size}", "-p", "task:=benchmark",
                             "-p", "torch_threads:=1", "-r", "/psi0/action:=/bench/policy_action"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Receiver:
    def __init__(self, rt_prio: int = 0):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from psi0_msgs.msg import PolicyStatus
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool
        from std_srvs.srv import Trigger
        from unitree_hg.msg import LowCmd

        from psi0_common import topics

        self.rclpy = rclpy
        self.Trigger = Trigger
        self.Bool = Bool
        self.node = rclpy.create_node("bench_receiver")
        qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, bool]] = []  # (time, damping)
        self.first_damping: float | None = None  # set by the callback once armed (no list scan while timing)
        self.armed = False
        self.diag: dict = {}
        self.node.create_subscription(LowCmd, topics.LOWCMD, self._on_cmd, qos)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 10)
        self.policy: list[tuple[int, float]] = []  # (chunk id, inference latency) from the policy node's status
        self.node.create_subscription(PolicyStatus, topics.POLICY_STATUS, self._on_policy, 10)
        self.pub_estop = self.node.create_publisher(Bool, topics.ESTOP, 10)
        self.reset = self.node.create_client(Trigger, topics.ESTOP_RESET)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.rt_prio = rt_prio
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        # The robot's receiver is real-time firmware; a normally scheduled Python receiver adds its own
        # wake-up delays to every arrival time, so it can run at SCHED_FIFO like the bridge's thread.
        if self.rt_prio > 0:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_prio))
        self.executor.spin()

    def _on_cmd(self, msg) -> None:
        t = time.monotonic()
        damping = msg.motor_cmd[0].kp == 0.0
        with self.lock:
            self.arrivals.append((t, damping))
            if damping and self.armed and self.first_damping is None:
                self.first_damping = t

    def arm(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.first_damping, self.armed = None, True

    def _on_diag(self, msg) -> None:
        for s in msg.status:
            if s.name == "amo_bridge":
                self.diag = {kv.key: kv.value for kv in s.values}

    def _on_policy(self, msg) -> None:
        if msg.chunk_id and (not self.policy or self.policy[-1][0] != msg.chunk_id):
            self.policy.append((msg.chunk_id, msg.inference_latency))

    def wait_policy_chunks(self, timeout: float, chunks: int = 3) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.policy) >= chunks:
                return len(self.policy)
            time.sleep(0.1)
        raise RuntimeError(f"the policy node produced {len(self.policy)} chunks in {timeout:g} s")

    def wait_state(self, state: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.diag.get("state") == state:
                return True
            time.sleep(0.05)
        return False

    def clear(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def since(self, t: float):
        with self.lock:
            return [a for a in self.arrivals if a[0] >= t]

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1)
        self.node.destroy_node()


def run_rate(rate: float, seconds: float, estops: int, load: str, rt_prio: int, lowstate_timeout: float,
             rx_prio: int = 0, policy_size: str = "small", bridge_params: tuple = ()) -> dict:
    exe = ROOT / "install/psi0_policy/lib/psi0_policy/amo_bridge_node"
    bridge = subprocess.Popen([str(exe), "--ros-args", "-p", "backend:=hold", "-p", f"control_rate_hz:={rate}",
                               "-p", "diagnostics_period:=0.5", "-p", f"realtime_priority:={rt_prio}",
                               "-p", f"lowstate_timeout:={lowstate_timeout}",
                               *[a for kv in bridge_params for a in ("-p", kv)]],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    robot = start("robot")
    loader = {"none": None, "mlp": lambda: start("load"),
              "policy": lambda: start_policy(policy_size)}[load]
    loader = loader() if loader else None
    rx = Receiver(rx_prio)
    out = {"rate": rate, "load": load}
    try:
        if not rx.wait_state("ACTIVE", 30.0):
            raise RuntimeError(f"bridge did not reach ACTIVE (diagnostics: {rx.diag})")
        if load == "policy":
            out["chunks"] = rx.wait_policy_chunks(60.0)  # loaded, warmed up and inferring
        time.sleep(1.0)
        rx.clear()
        chunks_before = len(rx.policy)
        time.sleep(seconds)
        got = rx.since(0.0)
        window = rx.policy[chunks_before:]
        out.update(policy_chunks=len(window),
                   policy_latency=float(np.mean([lat for _, lat in window])) if window else float("nan"))
        times = np.array([t for t, damp in got if not damp])
        if len(times) < 3:
            raise RuntimeError(f"only {len(got)} LowCmds received ({sum(d for _, d in got)} damping); "
                               f"diagnostics: {rx.diag}")
        periods = np.diff(times)
        nominal = 1.0 / rate
        jitter = np.abs(periods - nominal)
        out.update(n=len(periods), period_p50=np.percentile(periods, 50), jitter_p50=np.percentile(jitter, 50),
                   jitter_p99=np.percentile(jitter, 99), jitter_max=jitter.max(),
                   own_p50=float(rx.diag.get("command_jitter_p50_ms", "nan")) / 1e3,
                   own_p99=float(rx.diag.get("command_jitter_p99_ms", "nan")) / 1e3,
                   own_late_p99=float(rx.diag.get("command_late_p99_ms", "nan")) / 1e3)
        lat, reaction = [], []
        if rx_prio > 0:  # the e-stop sender (this thread), after the children started: they must not inherit it
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(rx_prio))
        for _ in range(estops):
            rx.arm()
            t0 = time.monotonic()
            rx.pub_estop.publish(rx.Bool(data=True))
            end = t0 + 1.0
            while time.monotonic() < end and rx.first_damping is None:
                time.sleep(0.005)
            if rx.first_damping is None:
                raise RuntimeError("no damping LowCmd within 1 s of the e-stop")
            lat.append(rx.first_damping - t0)
            if rx.wait_state("ESTOP", 3.0) and "last_estop_reaction_ms" in rx.diag:  # the bridge's own share
                reaction.append(float(rx.diag["last_estop_reaction_ms"]) / 1e3)
            time.sleep(0.2)
            assert rx.reset.wait_for_service(timeout_sec=5)
            for _ in range(5):  # on a saturated machine the stand-in robot can starve: damped again, retry
                fut = rx.reset.call_async(rx.Trigger.Request())
                while not fut.done():
                    time.sleep(0.01)
                if rx.wait_state("ACTIVE", 8.0):
                    break
            else:
                raise RuntimeError(f"no ACTIVE after reset: {rx.diag}")
            time.sleep(0.3)
        lat = np.array(lat)
        out.update(estop_p50=np.percentile(lat, 50), estop_max=lat.max(), estop_n=len(lat),
                   reaction_max=max(reaction) if reaction else float("nan"))
    finally:
        if rx_prio > 0:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        rx.close()
        for p in (bridge, robot) + ((loader,) if loader else ()):
            stop(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=("robot", "load"), help=argparse.SUPPRESS)
    ap.add_argument("--rates", type=float, nargs="+", default=[50.0, 500.0])
    ap.add_argument("--seconds", type=float, default=10.0, help="jitter measurement window per case")
    ap.add_argument("--estops", type=int, default=5, help="e-stop trials per case")
    ap.add_argument("--load", nargs="+", choices=("none", "mlp", "policy"), default=["none", "mlp", "policy"],
                    help="rows per rate: no load; a torch MLP inferring back to back on every core; the installed "
                         "policy node (random --policy-size model, rtc, one torch thread) inferring from the "
                         "stand-in's image and state")
    ap.add_argument("--policy-size", choices=("tiny", "small", "mid"), default="small",
                    help="model of the policy-node load (small = the shipped sim policy's size)")
    ap.add_argument("--realtime-priority", type=int, default=0,
                    help="the bridge's realtime_priority parameter: SCHED_FIFO for its command thread (0 = off); "
                         "the robot stand-in, the receiver and the load stay normally scheduled")
    ap.add_argument("--receiver-priority", type=int, default=0,
                    help="SCHED_FIFO priority of this process's receiving and e-stop sending threads (0 = normal "
                         "scheduling), standing in for the robot's real-time firmware and a real e-stop button")
    ap.add_argument("--bridge-param", action="append", default=[], metavar="NAME:=VALUE",
                    help="extra parameter for the bridge (repeatable), e.g. writer_check_period:=5.0")
    ap.add_argument("--lowstate-timeout", type=float, default=0.5,
                    help="bridge lowstate_timeout (s); the robot's 0.1 s trips on a loaded shared machine, where the "
                         "stand-in robot process itself is starved, and this benchmark is about the command loop")
    args = ap.parse_args()
    if args.role == "robot":
        role_robot()
        return 0
    if args.role == "load":
        role_load()
        return 0
    # A private ROS domain: never talk to a graph someone else runs on this machine (domain 0).
    os.environ["ROS_DOMAIN_ID"] = os.environ.get("PSI0_BENCH_DOMAIN", str(201 + os.getpid() % 30))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    rclpy.init()
    names = {"none": "none", "mlp": "torch MLP, all cores", "policy": f"policy node ({args.policy_size})"}
    print(f"# bridge_bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
          f"bridge SCHED_FIFO {args.realtime_priority or 'off'}, receiver SCHED_FIFO {args.receiver_priority or 'off'}, "
          f"lowstate_timeout {args.lowstate_timeout:g} s")
    print("| rate | load | LowCmds | period p50 | received jitter p50 | p99 | max | "
          "command-loop jitter p50 / p99 | send lateness p99 | e-stop -> damping p50 / max | "
          "in the bridge max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for rate in args.rates:
            for load in args.load:
                try:
                    r = run_rate(rate, args.seconds, args.estops, load, args.realtime_priority,
                                 args.lowstate_timeout, args.receiver_priority, args.policy_size,
                                 tuple(args.bridge_param))
                except RuntimeError as exc:
                    print(f"| {rate:g} Hz | {names[load]} | failed: {exc} |",
                          flush=True)
                    continue
                what = names[load] + (f": {r['policy_chunks']} chunks, {r['policy_latency'] * 1e3:.0f} ms"
                                      if load == "policy" else "")
                print(f"| {rate:g} Hz | {what} | {r['n']} | "
                      f"{r['period_p50'] * 1e3:.2f} ms | {r['jitter_p50'] * 1e3:.3f} ms | "
                      f"{r['jitter_p99'] * 1e3:.3f} ms | {r['jitter_max'] * 1e3:.2f} ms | "
                      f"{r['own_p50'] * 1e3:.3f} / {r['own_p99'] * 1e3:.3f} ms | {r['own_late_p99'] * 1e3:.3f} ms | "
                      f"{r['estop_p50'] * 1e3:.2f} / {r['estop_max'] * 1e3:.2f} ms (n={r['estop_n']}) | "
                      f"{r['reaction_max'] * 1e3:.2f} ms |", flush=True)
    finally:
        rclpy.try_shutdown()
    print(f"# load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
