"""Scripted demonstrator success rate through the ROS-free chain, in simulated time.

The same cores the nodes run, wired without ROS and without wall-clock timing:
planned SyntheticOperator (demo.feedback.CorrectedOperator) -> TeleopCore
(calibration, IK, retargeting, locomotion) -> AMO Bridge core (kinematic
backend) -> G1Sim, stepped at 500 Hz with the teleop at 30 Hz, the bridge at
50 Hz (hands 100 Hz). The operator's hand-eye feedback reads the sim's joints
(forward kinematics, like the node from /lowstate) and the base pose (the
node dead-reckons /psi0/sim/base_command, which the kinematic base follows).
It isolates the demonstrator from machine load; the node graph's own rate is
measured with `psi0 launch demo_record` (docs/demo.md).

    python bench/demo_bench.py --task cube_in_box --seeds 1000-1009
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from psi0_common import g1
from psi0_policy.bridge.config import BridgeConfig
from psi0_policy.bridge.core import Bridge
from psi0_policy.bridge.robot import RobotState
from psi0_sim.config import SimConfig
from psi0_sim.layout import sample_layout
from psi0_sim.robot import G1Sim
from psi0_teleop.config import TeleopConfig
from psi0_teleop.demo.feedback import CorrectedOperator, measured_palms
from psi0_teleop.demo.planner import PlanParams, plan_demo
from psi0_teleop.teleop import TeleopCore

SOURCE_TELEOP = 2


def run_episode(task: str, seed: int, params: PlanParams = PlanParams(), hold: float = 1.0) -> dict:
    plan = plan_demo(sample_layout(task, seed), params)
    sim = G1Sim(SimConfig(base_mode="kinematic", task=task))
    sim.reset(seed, task)
    core = TeleopCore(TeleopConfig())
    op = CorrectedOperator(plan.segments, seed=0, robot_reference=core.reference, expected_base=plan.expected_base)
    bridge = Bridge(BridgeConfig(backend="kinematic", source="teleop", sim_height_offset=params.sim_height_offset,
                                 lowstate_timeout=0.25))
    due = {"teleop": 0.0, "bridge": 0.0, "hand": 0.0}
    success_at, trips, touched = None, 0, False
    t_end = plan.duration + 1.0
    while sim.data.time < t_end:
        t = sim.data.time
        ls = sim.lowstate()
        arms = np.concatenate([ls.q[g1.LEFT_ARM], ls.q[g1.RIGHT_ARM]])
        if t >= due["teleop"]:
            due["teleop"] += 1.0 / 30.0
            trackers, gloves = op.poll(t)
            core.set_robot_state(arms, ls.q[g1.WAIST], float(ls.rpy[2]))
            op.feedback(measured_palms(core.ik, arms, ls.q[g1.WAIST], float(core.held_action[31])), 1.0 / 30.0)
            op.set_base(sim.base_pose()[0][:2])
            for s in trackers:
                core.on_trackers(s)
            for s in gloves:
                core.on_gloves(s)
            if core.calibration is None and t >= plan.calibrate_at:
                core.calibrate_now()
            if not core.status.engaged and t >= plan.engage_at:
                core.set_engaged(True)
            out = core.step(t)
            core.drain_messages()
            if out.action is not None:
                bridge.on_action(out.action, SOURCE_TELEOP, t)
        if t >= due["bridge"]:
            due["bridge"] += 0.02
            bridge.on_lowstate(RobotState(t, ls.q, ls.dq, ls.quaternion, ls.gyroscope, ls.rpy, ls.mode_machine))
            was = bridge.state.value
            tick = bridge.tick(t)
            trips += was != "DAMPING" and bridge.state.value == "DAMPING"
            if tick.lowcmd is not None:
                sim.apply_lowcmd(tick.lowcmd)
            if tick.base is not None:
                sim.apply_base_command(tick.base.vx, tick.base.vy, tick.base.yaw_rate, tick.base.height)
        if t >= due["hand"]:
            due["hand"] += 0.01
            for side in ("left", "right"):
                bridge.on_hand_state(side, sim.hand_state(side).q, t)
            for side, hc in bridge.hand_tick(t).items():
                if hc is not None:
                    sim.apply_hand_cmd(side, hc.q, np.zeros(7), np.zeros(7), hc.kp, hc.kd, hc.mode)
        sim.step(1)
        st = sim.task_status()
        touched |= st.predicates["hand_touching_object"]
        if st.success:
            success_at = success_at if success_at is not None else sim.data.time
        else:
            success_at = None
    ok = success_at is not None and sim.data.time - success_at >= min(hold, 0.5)
    return {"seed": seed, "success": bool(ok), "time_to_success": success_at, "bridge_trips": trips,
            "touched": touched, "hand": plan.side}


def seeds_arg(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cube_in_box", choices=("cube_in_box", "cube_in_box_walk"))
    ap.add_argument("--seeds", default="1000-1009", help="e.g. 1000-1019 or 1,5,9")
    args = ap.parse_args()
    from psi0_bringup.episodes import wilson_interval

    results = []
    t0 = time.time()
    for seed in seeds_arg(args.seeds):
        r = run_episode(args.task, seed)
        results.append(r)
        print(f"seed {seed}: {'SUCCESS' if r['success'] else 'fail'} ({r['hand']} hand"
              f"{', success at %.1f s' % r['time_to_success'] if r['time_to_success'] else ''}"
              f"{', bridge trips %d' % r['bridge_trips'] if r['bridge_trips'] else ''})", flush=True)
    k, n = sum(r["success"] for r in results), len(results)
    lo, hi = wilson_interval(k, n)
    print(f"{args.task}: {k}/{n} succeeded ({100 * k / n:.0f}%, 95% CI {100 * lo:.0f}-{100 * hi:.0f}%), "
          f"{time.time() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
