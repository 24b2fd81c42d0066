"""A scripted, seeded synthetic operator: walking, turning, squatting, reaching, grasping.

The operator is simulated as a body frame on the floor (position, heading) with
head, wrists, waist and feet trackers attached, plus natural sway (slow
body sway and hand tremor, seeded) and per-tracker mounting rotations (so
calibration has something to undo). Poses are emitted in the PICO world frame
(X right, Y up, Z back; origin near the headset at start-up), like the real
device.

A script is a list of `Segment`s run back to back. Rates (`walk`, `turn`) hold
for one segment and return to zero; pose channels (`squat`, wrist targets,
grips) move smoothly (minimum jerk) from their previous value to the new one
over the segment and then stay. Wrist targets are given in the ROBOT frame
(IK base: x forward, y left, z up, origin on the floor under the pelvis), so
a demonstration like "put the red cube in the box" can be scripted from scene
coordinates; converting them needs the robot's reference pose
(`calibration.RobotReference`), the same one the teleop calibration uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from psi0_teleop.devices import (GloveHandSample, GloveSample, OperatorDevice, TrackerSample,
                                 DeviceError, TRACKER_NAMES)
from psi0_teleop.geometry import Pose, R_PICO_TO_ROBOT, rot_z, rpy_to_mat


@dataclass(frozen=True)
class WristTarget:
    """A wrist (palm) target in the robot frame: position (m) and optional roll/pitch/yaw (rad)."""
    pos: tuple[float, float, float]
    rpy: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Segment:
    duration: float                                  # s
    label: str = ""
    walk: tuple[float, float] = (0.0, 0.0)           # operator velocity (forward, left) in m/s, this segment only
    turn: float = 0.0                                # operator yaw rate (rad/s, left positive), this segment only
    squat: float | None = None                       # operator pelvis drop (m); persists
    left_wrist: WristTarget | None = None            # robot-frame target; persists
    right_wrist: WristTarget | None = None
    rest_arms: bool = False                          # return both wrists to the reference pose
    left_grip: float | None = None                   # 0 open .. 1 closed; persists
    right_grip: float | None = None
    engage: bool = False                             # press the engage button at the segment start
    estop: bool = False                              # hold the e-stop button during the segment

    def __post_init__(self):
        if not (self.duration > 0 and np.isfinite(self.duration)):
            raise ValueError(f"segment {self.label!r}: duration must be > 0, got {self.duration}")
        for g in (self.left_grip, self.right_grip):
            if g is not None and not 0.0 <= g <= 1.0:
                raise ValueError(f"segment {self.label!r}: grip must be in [0, 1], got {g}")
        if self.squat is not None and not 0.0 <= self.squat <= 0.6:
            raise ValueError(f"segment {self.label!r}: squat must be in [0, 0.6] m, got {self.squat}")


def segment_from_dict(d: dict) -> Segment:
    known = {f.name for f in fields(Segment)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"script segment: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    d = dict(d)
    for side in ("left_wrist", "right_wrist"):
        if d.get(side) is not None:
            t = d[side]
            d[side] = WristTarget(tuple(map(float, t["pos"])), tuple(map(float, t["rpy"])) if t.get("rpy") else None)
    if "walk" in d:
        d["walk"] = tuple(map(float, d["walk"]))
    return Segment(**d)


def load_script(text_or_path: str) -> list[Segment]:
    """A script from a JSON/YAML file path or inline JSON/YAML: a list of segment mappings."""
    import yaml

    p = Path(text_or_path)
    text = p.read_text() if p.suffix in (".json", ".yaml", ".yml") else text_or_path
    data = yaml.safe_load(text)
    if not isinstance(data, list) or not data:
        raise ValueError("a synthetic operator script must be a non-empty list of segments")
    return [segment_from_dict(s) for s in data]


def demo_script() -> list[Segment]:
    """Stand in the reference pose, engage, walk, turn, squat, reach and grasp, stand."""
    return [
        Segment(2.0, "reference pose"),
        Segment(1.0, "engage", engage=True),
        Segment(4.0, "walk forward", walk=(0.4, 0.0)),
        Segment(1.0, "stop"),
        Segment(3.0, "turn left", turn=0.4),
        Segment(1.0, "stop"),
        Segment(2.0, "squat", squat=0.2),
        Segment(2.0, "stand up", squat=0.0),
        Segment(2.0, "reach", right_wrist=WristTarget((0.35, -0.15, 0.95)), right_grip=0.0),
        Segment(1.0, "grasp", right_grip=1.0),
        Segment(2.0, "lift", right_wrist=WristTarget((0.30, -0.15, 1.05))),
        Segment(1.0, "release", right_grip=0.0),
        Segment(2.0, "rest", rest_arms=True),
    ]


@dataclass
class _Operator:
    """Operator body proportions (m), from the seeded height."""
    height: float
    head: np.ndarray = field(init=False)
    waist: np.ndarray = field(init=False)
    wrist: np.ndarray = field(init=False)
    foot: np.ndarray = field(init=False)

    def __post_init__(self):
        h = self.height
        # Reference pose: upright, upper arms down, forearms forward (elbows at 90 degrees).
        self.head = np.array([0.02, 0.0, 0.93 * h])
        self.waist = np.array([0.0, 0.0, 0.56 * h])
        self.wrist = np.array([0.16 * h, 0.11 * h, 0.61 * h])  # left; right mirrors y
        self.foot = np.array([0.0, 0.06 * h, 0.08])


def min_jerk(s: float) -> float:
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10 - 15 * s + 6 * s * s)


class SyntheticOperator(OperatorDevice):
    name = "synthetic"

    def __init__(self, script: list[Segment] | None = None, *, seed: int = 0, rate_hz: float = 90.0,
                 robot_reference=None, height: float | None = None, sway: float = 1.0,
                 glove_rate_hz: float = 120.0, loop: bool = False):
        if rate_hz <= 0 or glove_rate_hz <= 0:
            raise DeviceError("synthetic operator: rates must be > 0")
        self.script = list(script) if script is not None else demo_script()
        if not self.script:
            raise DeviceError("synthetic operator: empty script")
        if robot_reference is None and any(sg.left_wrist or sg.right_wrist for sg in self.script):
            raise DeviceError("synthetic operator: robot-frame wrist targets need a robot reference "
                              "(calibration.RobotReference, e.g. WholeBodyIK().reference)")
        self.rng = np.random.default_rng(seed)
        self.rate = rate_hz
        self.glove_rate = glove_rate_hz
        self.loop = loop
        self.ref = robot_reference
        self.body = _Operator(height if height is not None else float(self.rng.uniform(1.6, 1.9)))
        self.sway = sway
        # Where the PICO world sits: start-up heading and headset offset.
        self.heading0 = float(self.rng.uniform(-0.3, 0.3))
        self.world_offset = -(rot_z(self.heading0) @ self.body.head)
        # Per-tracker mounting rotation: calibration must undo it.
        self.mount = {n: rpy_to_mat(*self.rng.uniform(-0.6, 0.6, 3)) for n in TRACKER_NAMES}
        # The headset's own axes follow the PICO convention (forward = -Z), worn nearly level.
        self.mount["head"] = rpy_to_mat(*self.rng.uniform(-0.05, 0.05, 3)) @ R_PICO_TO_ROBOT
        self.sway_phase = self.rng.uniform(0, 2 * np.pi, 6)
        self.tremor = 0.002 * sway
        self.t_start: float | None = None
        self.t_sim = 0.0
        self.next_tracker = 0.0
        self.next_glove = 0.0
        # State.
        self.xy = np.zeros(2)
        self.yaw = self.heading0
        self.gait_phase = 0.0
        self.seg_index = 0
        self.seg_t = 0.0
        self._pressed_engage = False
        self._channels: dict[str, tuple] = {}  # name -> (start value, end value)
        self._values = {"squat": 0.0, "left_grip": 0.0, "right_grip": 0.0,
                        "left_wrist": None, "right_wrist": None}
        self._finished = False
        self._enter_segment()

    # -- script -------------------------------------------------------------------
    @property
    def segment(self) -> Segment:
        return self.script[self.seg_index]

    def _rel_wrist(self, side: str, target: WristTarget | None) -> tuple[np.ndarray, np.ndarray]:
        """Operator wrist position and rotation relative to its body frame for a robot-frame target."""
        sign = 1.0 if side == "left" else -1.0
        ref_pos = self.body.wrist * np.array([1.0, sign, 1.0])
        mount = self.mount[f"{side}_wrist"]
        if target is None:
            return ref_pos, mount
        if self.ref is None:
            raise DeviceError("synthetic operator: robot-frame wrist targets need a robot reference "
                              "(calibration.RobotReference)")
        s = self.ref.head_height / self.body.head[2]
        rpose = self.ref.poses[f"{side}_wrist"]
        pos = ref_pos + (np.asarray(target.pos, float) - rpose.pos) / s
        r_target = rpose.rot if target.rpy is None else rpy_to_mat(*target.rpy)
        return pos, r_target @ rpose.rot.T @ mount

    def _enter_segment(self) -> None:
        seg = self.segment
        self._pressed_engage = False
        self._channels = {}
        for name in ("squat", "left_grip", "right_grip"):
            new = getattr(seg, name)
            if new is not None:
                self._channels[name] = (self._values[name], new)
        for side in ("left", "right"):
            key = f"{side}_wrist"
            tgt = getattr(seg, key)
            if tgt is not None or seg.rest_arms:
                start = self._current_wrist(side)
                end = self._rel_wrist(side, tgt)
                self._channels[key] = (start, end)

    def _current_wrist(self, side: str):
        key = f"{side}_wrist"
        if self._values[key] is None:
            return self._rel_wrist(side, None)
        return self._values[key]

    def _advance_channels(self) -> None:
        s = min_jerk(self.seg_t / self.segment.duration)
        for name, (a, b) in self._channels.items():
            if name.endswith("wrist"):
                pos = a[0] + s * (b[0] - a[0])
                rot = _slerp_mat(a[1], b[1], s)
                self._values[name] = (pos, rot)
            else:
                self._values[name] = a + s * (b - a)

    def _step(self, dt: float) -> None:
        seg = self.segment
        fwd, left = seg.walk
        self.yaw += seg.turn * dt
        self.xy += rot_z(self.yaw)[:2, :2] @ np.array([fwd, left]) * dt
        speed = float(np.hypot(fwd, left))
        if speed > 0 or abs(seg.turn) > 0:
            self.gait_phase += 2 * np.pi * 1.6 * dt
        self.seg_t += dt
        self._advance_channels()
        if self.seg_t >= seg.duration - 1e-9:
            if self.seg_index + 1 < len(self.script):
                self.seg_index += 1
            elif self.loop:
                self.seg_index = 0
            else:
                self._finished = True
                return
            self.seg_t = 0.0
            self._enter_segment()

    # -- sampling -----------------------------------------------------------------
    def _sway(self) -> tuple[np.ndarray, float]:
        t, ph, a = self.t_sim, self.sway_phase, self.sway
        xy = a * np.array([0.012 * np.sin(2 * np.pi * 0.23 * t + ph[0]) + 0.005 * np.sin(2 * np.pi * 0.61 * t + ph[1]),
                           0.010 * np.sin(2 * np.pi * 0.31 * t + ph[2]) + 0.004 * np.sin(2 * np.pi * 0.83 * t + ph[3])])
        yaw = a * 0.03 * np.sin(2 * np.pi * 0.17 * t + ph[4])
        return xy, float(yaw)

    def operator_poses(self) -> dict[str, Pose]:
        """Current tracker poses in robot-axis room coordinates (z up), before the PICO mapping."""
        b = self.body
        sway_xy, sway_yaw = self._sway()
        squat = self._values["squat"]
        walking = float(np.hypot(*self.segment.walk)) > 0 or abs(self.segment.turn) > 0
        r_body = rot_z(self.yaw)
        origin = np.array([self.xy[0], self.xy[1], 0.0])
        upper = rot_z(self.yaw + sway_yaw)
        upper_origin = origin + np.array([sway_xy[0], sway_xy[1], 0.0])
        down = np.array([0.0, 0.0, -squat])
        bob = np.zeros(3)
        if walking:  # lateral weight shift at half the step frequency
            bob = r_body @ np.array([0.0, 0.02 * np.sin(self.gait_phase / 2), 0.0])
        poses = {}
        poses["head"] = Pose(upper_origin + bob + upper @ (b.head + down), upper @ self.mount["head"])
        poses["waist"] = Pose(upper_origin + bob + upper @ (b.waist + down), upper @ self.mount["waist"])
        for side in ("left", "right"):
            pos, rot = self._current_wrist(side)
            tremor = self.rng.normal(0.0, self.tremor, 3)
            poses[f"{side}_wrist"] = Pose(upper_origin + bob + upper @ (pos + down) + tremor, upper @ rot)
            sign = 1.0 if side == "left" else -1.0
            stride = 0.0
            lift = 0.0
            if walking:
                phase = self.gait_phase + (0.0 if side == "left" else np.pi)
                stride = 0.5 * np.hypot(*self.segment.walk) / 1.6 * np.sin(phase)
                lift = 0.05 * max(0.0, np.cos(phase))
            foot = np.array([stride, sign * b.foot[1], b.foot[2] + lift])
            poses[f"{side}_foot"] = Pose(origin + r_body @ foot, r_body @ self.mount[f"{side}_foot"])
        return poses

    def _to_pico(self, pose: Pose) -> Pose:
        w = rot_z(-self.heading0)  # PICO forward = headset forward at start-up
        pos = w @ pose.pos + rot_z(-self.heading0) @ self.world_offset
        return Pose(R_PICO_TO_ROBOT.T @ pos, R_PICO_TO_ROBOT.T @ (w @ pose.rot))

    def _glove_hand(self, side: str):
        from psi0_teleop.retarget import ergonomics_for_closure

        c = float(self._values[f"{side}_grip"])
        return GloveHandSample(True, ergonomics_for_closure(c) + self.rng.normal(0.0, 0.005, 20))

    def poll(self, now: float) -> tuple[list[TrackerSample], list[GloveSample]]:
        if self.t_start is None:
            self.t_start = now
        trackers, gloves = [], []
        target = now - self.t_start
        dt = 1.0 / self.rate
        while not self._finished and min(self.next_tracker, self.next_glove) <= target + 1e-9:
            if self.next_glove <= self.next_tracker:
                gloves.append(GloveSample(self.t_start + self.next_glove, self._glove_hand("left"),
                                          self._glove_hand("right")))
                self.next_glove += 1.0 / self.glove_rate
                continue
            poses = {k: self._to_pico(v) for k, v in self.operator_poses().items()}
            engage = self.segment.engage and not self._pressed_engage
            self._pressed_engage = self._pressed_engage or engage
            trackers.append(TrackerSample(self.t_start + self.next_tracker, poses, estop=self.segment.estop,
                                          engage=engage))
            self.next_tracker += dt
            self.t_sim = self.next_tracker
            self._step(dt)
        return trackers, gloves

    def done(self) -> bool:
        return self._finished

    def total_duration(self) -> float:
        return float(sum(s.duration for s in self.script))


def _slerp_mat(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """Rotation from a towards b by fraction s (axis-angle of a^T b)."""
    r = a.T @ b
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))
    if angle < 1e-9:
        return b.copy() if s >= 1 else a.copy()
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2 * np.sin(angle))
    if np.pi - angle < 1e-6:  # axis from the symmetric part
        w, v = np.linalg.eigh((r + np.eye(3)) / 2)
        axis = v[:, np.argmax(w)]
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    th = s * angle
    return a @ (np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * k @ k)


__all__ = ["Segment", "WristTarget", "SyntheticOperator", "demo_script", "load_script", "segment_from_dict"]
