"""The demonstrator watches the robot's hand and corrects its own wrist, as a human operator does.

Why: the teleop's IK is open loop with respect to the robot: arm PD gains sag
under gravity and the bridge shapes commands, so the palm settles a few
centimetres from the IK target (measured in sim: 2-4 cm, mostly short and
low). A human operator sees that and moves the hand further; this does the
same: an integrator on (planned robot-frame palm target - measured palm, from
forward kinematics of the LowState joints) while the hand dwells above
the cube and above the box (and, horizontally only, at the grasp height), clipped to `limit`, held while it goes down,
grasps, lifts and releases, and added to the operator's wrist tracker.

`CorrectedOperator` is a SyntheticOperator whose wrist trackers carry that
offset (psi0_teleop's synthetic operator has no public hook for it: this
overrides `operator_poses` and reads its segment state).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_teleop.devices.synthetic import SyntheticOperator
from psi0_teleop.geometry import Pose, rot_z

# Segments in which the operator corrects the hand: the dwells above the cube and the box. The correction is then
# held (not integrated) while the hand goes down, grasps and lifts: in contact an integrator would push the
# hand into the table or shove the cube.
PRECISION_SEGMENTS = ("align", "align over the box", "settle")
HORIZONTAL_ONLY = ("settle",)   # at the grasp height the fingertips rest on the table: correct x, y only


@dataclass(frozen=True)
class FeedbackParams:
    gain: float = 5.0          # 1/s: correction rate per metre of palm error
    limit: float = 0.06        # m: largest correction per axis
    settled: float = 0.5       # fraction of a segment after which its target counts as at rest
    deadband: float = 0.003    # m: errors below this are left alone


class CorrectedOperator(SyntheticOperator):
    """A synthetic operator that adds a robot-frame correction to its wrist trackers."""

    def __init__(self, *args, feedback: FeedbackParams = FeedbackParams(), expected_base=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fb = feedback
        self.correction = {"left": np.zeros(3), "right": np.zeros(3)}
        self.base_offset = np.zeros(3)      # planned minus measured base position (robot frame), see set_base
        # planned base position (xy, episode-start frame) per script segment; None: the plan never walks
        self._expected = [np.zeros(2)] * len(self.script) if expected_base is None else [
            np.asarray(e, float) for e in expected_base]

    def set_base(self, xy_measured) -> None:
        """The robot base's measured displacement since the episode start (odometry, world = start frame).
        While standing after a walk, targets shift by (planned - measured) so they stay on the objects."""
        if self.done() or self.segment.walk != (0.0, 0.0):
            return                             # walking: the offset is recomputed once the base stops
        expected = self._expected[self.seg_index]
        self.base_offset[:2] = expected - np.asarray(xy_measured, float)

    def planned_target(self, side: str) -> np.ndarray | None:
        """The current segment's robot-frame target for `side` if it is at rest and precision matters."""
        if self.done():
            return None
        seg = self.segment
        tgt = getattr(seg, f"{side}_wrist")
        if tgt is None or seg.label not in PRECISION_SEGMENTS:
            return None
        if self.seg_t < self.fb.settled * seg.duration:
            return None
        return np.asarray(tgt.pos, float)

    def feedback(self, measured: dict[str, np.ndarray], dt: float) -> None:
        """One observation of the robot's palms (robot frame); integrates the corrections."""
        dt = min(max(dt, 0.0), 0.1)
        for side, palm in measured.items():
            if not self.done() and self.segment.label in ("reference pose", "hands down"):
                self.correction[side] *= 0.0
                continue
            target = self.planned_target(side)
            if target is None:
                continue
            err = target + self.base_offset - np.asarray(palm, float)   # the target moved with the base error
            err[np.abs(err) < self.fb.deadband] = 0.0
            if self.segment.label in HORIZONTAL_ONLY:
                err[2] = 0.0
            c = self.correction[side] + self.fb.gain * err * dt
            self.correction[side] = np.clip(c, -self.fb.limit, self.fb.limit)

    def operator_poses(self) -> dict[str, Pose]:
        poses = super().operator_poses()
        if self.ref is None:
            return poses
        s = self.ref.head_height / self.body.head[2]
        _, sway_yaw = self._sway()
        upper = rot_z(self.yaw + sway_yaw)
        for side in ("left", "right"):
            key = f"{side}_wrist"
            c = self.correction[side] + self.base_offset
            if key in poses and np.any(c):
                p = poses[key]
                poses[key] = Pose(p.pos + upper @ (c / s), p.rot)
        return poses


def measured_palms(ik, arms: np.ndarray, waist_yaw_roll_pitch, height: float) -> dict[str, np.ndarray]:
    """Palm positions (robot frame) of measured joints, by the IK model's forward kinematics."""
    y, r, p = waist_yaw_roll_pitch
    frames = ik.frames_at(ik.configuration_from(arms=arms, torso_rpy=(r, p, y), height=height))
    return {"left": frames.poses["left_wrist"].pos, "right": frames.poses["right_wrist"].pos}
