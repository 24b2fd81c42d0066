"""Record a short video of the simulated G1 (no ROS needed).

    python -m psi0_sim.record_video --out docs/media/sim.mp4

A scripted run of the same core the sim node uses: the robot stands in the
default pose, reaches forward with both arms and closes the Dex3 fingers
(LowCmd/Dex3 commands through the motor drivers, CRC and all), turns on the
kinematic base and comes back. The frame shows the overview camera with the
head D435i render (what the policy sees) inset, plus the task-state
predicates as text.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from psi0_common import g1
from psi0_common.unitree_codec import LowCmdData, MotorCommands, with_crc
from psi0_sim.camera import CameraRenderer
from psi0_sim.config import SimConfig
from psi0_sim.robot import G1Sim

REACH = {"left_shoulder_pitch": -0.9, "left_shoulder_roll": 0.15, "left_elbow": 0.5,
         "right_shoulder_pitch": -0.9, "right_shoulder_roll": -0.15, "right_elbow": 0.5,
         "waist_pitch": 0.15}


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def script(t: float) -> tuple[np.ndarray, float, float]:
    """(body targets, finger closure 0..1, base yaw rate) at time t of the demo."""
    q = np.array(g1.DEFAULT_BODY_POSE)
    reach = _smooth((t - 1.0) / 1.5) - _smooth((t - 6.5) / 1.5)
    for name, value in REACH.items():
        i = g1.BODY_NAMES.index(name)
        q[i] += reach * (value - q[i])
    grip = _smooth((t - 2.5) / 1.0) - _smooth((t - 6.0) / 1.0)
    yaw_rate = 0.35 if 3.0 <= t < 4.5 else (-0.35 if 4.5 <= t < 6.0 else 0.0)
    return q, grip, yaw_rate


def lowcmd(q: np.ndarray) -> LowCmdData:
    m = MotorCommands()
    kp, kd = g1.body_gains()
    m.mode[:g1.NUM_BODY] = 1
    m.q[:g1.NUM_BODY], m.kp[:g1.NUM_BODY], m.kd[:g1.NUM_BODY] = q, kp, kd
    return with_crc(LowCmdData(mode_machine=5, motors=m))


def record(out: Path, seconds: float, fps: int, width: int, height: int, seed: int) -> dict:
    import imageio.v2 as imageio

    sim = G1Sim(SimConfig(base_mode="kinematic", seed=seed))
    overview = CameraRenderer(sim.model, width, height, camera="overview")
    head = CameraRenderer(sim.model, width // 3, height // 3)
    out.parent.mkdir(parents=True, exist_ok=True)
    steps_per_frame = int(round(sim.cfg.physics_rate / fps))
    writer = imageio.get_writer(str(out), fps=fps, codec="libx264", quality=6, pixelformat="yuv420p",
                                macro_block_size=8, ffmpeg_log_level="error")
    touched = False
    try:
        for k in range(int(seconds * fps)):
            t = k / fps
            q, grip, yaw_rate = script(t)
            for side, sign in (("left", 1.0), ("right", -1.0)):
                target = np.zeros(g1.NUM_HAND)
                target[1] = sign * 0.4 * grip              # thumb 1
                target[2] = sign * 0.9 * grip              # thumb 2
                target[3:] = -sign * 1.0 * grip            # middle and index bend
                sim.apply_hand_cmd(side, target, np.zeros(7), np.zeros(7), np.full(7, g1.DEX3_KP),
                                   np.full(7, g1.DEX3_KD), np.full(7, 0x10))
            for _ in range(steps_per_frame // 5):
                sim.apply_lowcmd(lowcmd(q))
                sim.apply_base_command(0.0, 0.0, yaw_rate, 0.0)
                sim.step(5)
            snap = sim.snapshot()
            frame = overview.render(snap).copy()
            inset = head.render(snap)
            h, w = inset.shape[:2]
            frame[8:8 + h, 8:8 + w] = inset
            cv2.rectangle(frame, (7, 7), (8 + w, 8 + h), (255, 255, 255), 1)
            status = sim.task_status()
            touched |= status.predicates["hand_touching_object"]
            text = f"t={t:4.1f}s  " + "  ".join(f"{n}={int(v)}" for n, v in status.predicates.items())
            cv2.putText(frame, text, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                        cv2.LINE_AA)
            cv2.putText(frame, "head D435i", (12, 20 + h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                        cv2.LINE_AA)
            writer.append_data(frame)
    finally:
        writer.close()
        overview.close()
        head.close()
    return {"frames": int(seconds * fps), "bytes": out.stat().st_size, "final_task": sim.task_status()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Record a short MP4 of the simulated G1.")
    ap.add_argument("--out", type=Path, default=Path("docs/media/sim.mp4"))
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    info = record(args.out, args.seconds, args.fps, args.width, args.height, args.seed)
    print(f"wrote {args.out}: {info['frames']} frames, {info['bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
