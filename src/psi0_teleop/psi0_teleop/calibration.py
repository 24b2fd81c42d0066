"""Operator -> robot calibration: one reference pose maps frames and body scale.

Reference pose: stand upright facing forward, upper arms down, forearms
forward with the elbows at about 90 degrees, palms facing each other; the
robot's reference posture (IK `reference_q`) is the same pose.

`calibrate(sample, robot_ref)` records, from one tracker sample:
- the operator's forward heading (from the headset's forward axis);
- the floor height (foot trackers minus their height above the floor, or
  the head minus a nominal eye height when the feet are not tracked);
- the body scale s = robot head height / operator head height;
- per tracker a rotation offset, so that in the reference pose each
  tracker's calibrated orientation equals the robot frame's reference
  orientation (this also removes how the tracker is strapped on);
- per IK target its position relative to the operator's body frame.

At run time (`OperatorMapper`) the operator body frame is the waist tracker
projected on the floor, yawed with the calibrated waist heading; a target is
  p_robot = p_ref_robot + s * (p_rel - p_rel_at_calibration)
  R_robot = R_heading^T  R_tracker  R_offset
so the reference pose maps exactly onto the robot's reference posture and
operator motion is scaled by body size. Stored as JSON and reloadable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from psi0_teleop.devices import TrackerSample
from psi0_teleop.geometry import Pose, heading, pico_to_robot_axes, rot_z

IK_TARGETS = ("head", "left_wrist", "right_wrist")
REQUIRED_FOR_CALIBRATION = ("head", "left_wrist", "right_wrist", "waist")
FOOT_TRACKER_HEIGHT = 0.08  # m, ankle tracker centre above the floor
EYE_BELOW_TOP = 0.12        # m, headset centre below the top of the head (fallback floor)
NOMINAL_OPERATOR_HEIGHT = 1.75


class CalibrationError(ValueError):
    """The reference pose cannot be used; the message says why."""


@dataclass(frozen=True)
class RobotReference:
    """The robot's IK target frames in its reference posture, in the IK base frame
    (origin on the floor under the pelvis, x forward, z up)."""
    poses: dict[str, Pose]   # keys: IK_TARGETS

    @property
    def head_height(self) -> float:
        return float(self.poses["head"].pos[2])


@dataclass(frozen=True)
class Calibration:
    scale: float
    floor_z: float                         # room z of the floor (robot axes, PICO origin)
    heading0: float                        # operator forward heading at calibration (rad)
    operator_head_height: float            # m
    rot_offsets: dict[str, np.ndarray]     # tracker -> 3x3
    rel0: dict[str, np.ndarray]            # IK target -> position in the body frame at calibration

    def to_json(self) -> str:
        return json.dumps({
            "version": 1, "scale": self.scale, "floor_z": self.floor_z, "heading0": self.heading0,
            "operator_head_height": self.operator_head_height,
            "rot_offsets": {k: v.tolist() for k, v in self.rot_offsets.items()},
            "rel0": {k: v.tolist() for k, v in self.rel0.items()}}, indent=1)

    @staticmethod
    def from_json(text: str) -> "Calibration":
        try:
            d = json.loads(text)
            if d.get("version") != 1:
                raise CalibrationError(f"unsupported calibration version {d.get('version')!r}")
            cal = Calibration(float(d["scale"]), float(d["floor_z"]), float(d["heading0"]),
                              float(d["operator_head_height"]),
                              {k: np.array(v, float).reshape(3, 3) for k, v in d["rot_offsets"].items()},
                              {k: np.array(v, float).reshape(3) for k, v in d["rel0"].items()})
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(f"calibration file is malformed: {exc}") from exc
        missing = [k for k in REQUIRED_FOR_CALIBRATION if k not in cal.rot_offsets]
        if missing or not all(k in cal.rel0 for k in IK_TARGETS):
            raise CalibrationError(f"calibration file lacks trackers {missing or list(IK_TARGETS)}")
        if not 0.2 < cal.scale < 5.0:
            raise CalibrationError(f"calibration scale {cal.scale} is implausible")
        return cal

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path) -> "Calibration":
        p = Path(path)
        if not p.is_file():
            raise CalibrationError(f"calibration file {p} does not exist")
        return Calibration.from_json(p.read_text())


def _robot_axes(sample: TrackerSample, names=None) -> dict[str, Pose]:
    keys = sample.poses if names is None else names
    return {k: pico_to_robot_axes(sample.poses[k]) for k in keys if sample.valid(k)}


def calibrate(sample: TrackerSample, robot_ref: RobotReference) -> Calibration:
    """Calibrate from one sample of the operator holding the reference pose."""
    poses = _robot_axes(sample)
    missing = [k for k in REQUIRED_FOR_CALIBRATION if k not in poses]
    if missing:
        raise CalibrationError(f"cannot calibrate: trackers not valid: {', '.join(missing)}")
    head = poses["head"]
    fwd_world = _headset_forward(head)
    heading0 = float(np.arctan2(fwd_world[1], fwd_world[0]))
    feet = [poses[k].pos[2] for k in ("left_foot", "right_foot") if k in poses]
    if feet:
        floor_z = float(np.mean(feet)) - FOOT_TRACKER_HEIGHT
    else:
        floor_z = float(head.pos[2]) - (NOMINAL_OPERATOR_HEIGHT - EYE_BELOW_TOP)
    op_head = float(head.pos[2] - floor_z)
    if not 0.8 < op_head < 2.4:
        raise CalibrationError(f"operator head height {op_head:.2f} m above the floor is implausible; "
                               "stand upright in the reference pose")
    scale = robot_ref.head_height / op_head
    r_h = rot_z(heading0)
    offsets = {}
    for name, pose in poses.items():
        target_rot = robot_ref.poses[name].rot if name in robot_ref.poses else np.eye(3)
        offsets[name] = pose.rot.T @ r_h @ target_rot
    waist = poses["waist"]
    origin = np.array([waist.pos[0], waist.pos[1], floor_z])
    rel0 = {name: r_h.T @ (poses[name].pos - origin) for name in IK_TARGETS}
    for side in ("left_wrist", "right_wrist"):
        if np.linalg.norm(rel0[side] - rel0["head"]) > 1.5:
            raise CalibrationError(f"{side} is {np.linalg.norm(rel0[side] - rel0['head']):.2f} m from the head: "
                                   "not a reference pose")
    return Calibration(float(scale), floor_z, heading0, op_head, offsets, rel0)


def _headset_forward(head: Pose) -> np.ndarray:
    """The headset's forward direction (its own -Z axis in PICO convention) in robot axes."""
    # head.rot maps headset-body (PICO axes) vectors to room robot axes.
    return head.rot @ np.array([0.0, 0.0, -1.0])


@dataclass(frozen=True)
class BodyFrame:
    origin: np.ndarray   # floor point under the waist (room, robot axes)
    heading: float       # rad


class OperatorMapper:
    """Tracker samples -> IK targets (robot frame), operator body frame and feet yaw."""

    def __init__(self, calib: Calibration, robot_ref: RobotReference):
        self.cal = calib
        self.ref = robot_ref

    def body_frame(self, poses: dict[str, Pose]) -> BodyFrame | None:
        src = "waist" if "waist" in poses else None
        if src is None:
            return None
        p = poses[src]
        h = heading(p.rot @ self.cal.rot_offsets[src])
        return BodyFrame(np.array([p.pos[0], p.pos[1], self.cal.floor_z]), h)

    def feet_yaw(self, poses: dict[str, Pose]) -> float | None:
        yaws = [heading(poses[k].rot @ self.cal.rot_offsets[k]) for k in ("left_foot", "right_foot")
                if k in poses and k in self.cal.rot_offsets]
        if not yaws:
            return None
        return float(np.arctan2(np.mean(np.sin(yaws)), np.mean(np.cos(yaws))))

    def locomotion_inputs(self, sample: TrackerSample) -> tuple[BodyFrame | None, float | None]:
        """Body frame and feet yaw only (what the locomotion mapping needs, per tracker sample)."""
        poses = _robot_axes(sample, ("waist", "left_foot", "right_foot"))
        return self.body_frame(poses), self.feet_yaw(poses)

    def map(self, sample: TrackerSample) -> tuple[dict[str, Pose | None], BodyFrame | None, dict[str, Pose]]:
        """IK targets (None where the tracker is invalid), body frame, and the room-frame poses."""
        poses = _robot_axes(sample)
        body = self.body_frame(poses)
        targets: dict[str, Pose | None] = {name: None for name in IK_TARGETS}
        if body is None:
            return targets, None, poses
        r_h = rot_z(body.heading)
        for name in IK_TARGETS:
            if name not in poses:
                continue
            rel = r_h.T @ (poses[name].pos - body.origin)
            pos = self.ref.poses[name].pos + self.cal.scale * (rel - self.cal.rel0[name])
            rot = r_h.T @ poses[name].rot @ self.cal.rot_offsets[name]
            targets[name] = Pose(pos, rot)
        return targets, body, poses
