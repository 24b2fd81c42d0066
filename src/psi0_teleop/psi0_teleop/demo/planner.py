"""Plans of operator targets for the sim tasks, from the seeded layout alone (ROS-free).

The plan is a list of `psi0_teleop.devices.synthetic.Segment`s: wrist (palm)
targets in the robot frame (the IK base frame: floor under the pelvis, x
forward, z up, pelvis at the nominal 0.75 m), glove closure per hand, and
operator walking, each reached with a minimum-jerk profile over the segment.

The grasp (found by a physics search in psi0_sim, docs/demo.md): the hand
whose side of the table holds cube and box, palm turned down-inwards, fingers
tilted down, the cube between thumb and fingers; closing the glove cages it.
Sequence: reference pose (calibration), hands down to where a reset puts them
(engage there), lift the hand clear of the table edge, turn it, move over the
cube, align (hand-eye correction, demo.feedback), descend, settle, close, lift,
over the box, align, lower to just over the rim, open, raise, pull back, turn
the hand back, hands down. For `cube_in_box_walk` the operator side-steps
towards the cube before the reach and back after the lift; the robot's base
shift is predicted by running the teleop's own locomotion mapping
(`LocomotionMapper`) on the operator's walk, so targets after a walk are
expressed in the moved robot frame.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from psi0_common import g1
from psi0_sim.layout import CUBE_HALF, TABLE_TOP_Z, carrying_hand
from psi0_teleop.devices.synthetic import Segment, WristTarget
from psi0_teleop.geometry import rpy_to_mat
from psi0_teleop.locomotion import LocomotionMapper, LocomotionParams

SIDES = ("left", "right")


@dataclass(frozen=True)
class PlanParams:
    """Geometry and timing of a demonstration (metres, seconds, radians)."""
    sim_height_offset: float = 0.034     # sim pelvis height in the default pose (0.784) minus the nominal 0.75
    # The grasp (found by a physics search over hand poses round a cube on the table, /docs/demo.md): the palm
    # turned down-inwards, fingers tilted down; closing the glove cages the cube between thumb and fingers.
    grasp_roll: float = 1.0              # rad, palm normal from horizontal-inwards towards down
    grasp_pitch: float = 0.45            # rad, fingers below horizontal
    cube_in_palm: tuple = (0.09, 0.055, 0.012)  # cube centre in the palm-site frame (along fingers, to the palm, z)
    cube_held: tuple = (0.063, 0.071, 0.005)   # where the closed hand holds it (measured in sim): used to place
    hover: float = 0.08                  # approach height of the grasp pose above its final height
    lift: float = 0.13                   # carry height above the grasp height
    place_clearance: float = 0.055       # cube bottom above the box floor when let go (just over the 5 cm rim)
    box_floor: float = 0.006             # box floor thickness (m)
    settle_time: float = 1.5             # reference pose held at the start (calibration, episode settle)
    reach_time: float = 3.0              # turning the hand, then over the cube
    descend_time: float = 1.4
    close_time: float = 1.0
    lift_time: float = 1.2
    carry_time: float = 2.0
    lower_time: float = 1.2
    open_time: float = 0.8
    retreat_time: float = 1.0
    turn_back_time: float = 1.5
    rest_time: float = 1.5
    tempo: float = 1.0                   # all arm/hand segment durations are multiplied by this (slower > 1)
    walk_speed: float = 0.35             # operator side-step speed (m/s) in the walk task
    walk_back_speed: float = 0.22        # operator side-step speed carrying the cube (m/s)
    walk_settle: float = 1.0             # standing still after a walk, until the base has stopped
    reach_y: float = 0.20                # |y| of the grasping palm relative to the pelvis after a walk
    raise_height: float = 0.12           # palm height above the cube centre while turning the hand (clears the table)
    clear_x: float = 0.12                # palm x while raising/lowering the hand: behind the table edge (0.22)
    hands_down_time: float = 1.0
    lift_palm_z: float = 0.92            # world z the hanging hand is lifted to before it turns (fingertips clear)
    lift_hand_time: float = 2.0
    settle_grasp_time: float = 0.6       # dwell at the grasp pose (horizontal correction) before closing
    align_time: float = 1.0              # dwell over the cube / box while the hand-eye correction settles


def fold_yaw(cube_yaw: float) -> float:
    """The cube's yaw folded into [-pi/4, pi/4] (a cube is symmetric under quarter turns)."""
    return float((cube_yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def grasp_rpy(side: str, cube_yaw: float, p: "PlanParams") -> tuple[float, float, float]:
    """Palm orientation (robot frame) of the grasp: palm turned down-inwards by `grasp_roll`, fingers tilted
    down by `grasp_pitch`, turned with the cube's nearest face (roll mirrors for the right hand)."""
    sign = 1.0 if side == "left" else -1.0
    return (sign * p.grasp_roll, p.grasp_pitch, fold_yaw(cube_yaw))


def palm_for_cube(side: str, cube_centre, cube_yaw: float, p: PlanParams, held: bool = False) -> np.ndarray:
    """Palm-site position that puts the cube centre at `cube_in_palm` (open hand; `held`: at `cube_held`, where
    the closed hand carries it) in the hand frame (x along the fingers, y towards the palm face, mirrored for
    the right hand)."""
    rot = rpy_to_mat(*grasp_rpy(side, cube_yaw, p))
    lx, ly, lz = p.cube_held if held else p.cube_in_palm
    local = np.array([lx, (-ly if side == "left" else ly), lz])
    return np.asarray(cube_centre, float) - rot @ local


def predict_walk(vy: float, duration: float, settle: float, params: LocomotionParams = LocomotionParams(),
                 rate: float = 90.0) -> float:
    """Robot base shift (m, along y) when the operator side-steps at `vy` for `duration` then stands
    `settle` s, from the teleop's own locomotion mapping (velocity filter, dead-bands, gain)."""
    mapper = LocomotionMapper(params)
    dt = 1.0 / rate
    y, shift, t = 0.0, 0.0, 0.0
    for k in range(int(round((duration + settle) * rate))):
        t = k * dt
        cmd = mapper.update(t, np.array([0.0, y]), 0.0, 0.0)
        shift += cmd.vy * dt
        if t < duration:
            y += vy * dt
    return shift


def walk_for(want: float, speed: float, settle: float, loco: LocomotionParams) -> tuple[float, float]:
    """Duration of an operator side-step at `speed` whose predicted base shift is `want` (m), and that shift.
    Bisection: the mapping's dead-band and filter make the shift increasing in the duration, not proportional."""
    lo, hi = 0.0, 6.0 * abs(want) / speed + 1.0
    for _ in range(18):                      # resolution ~ 1e-4 s
        duration = 0.5 * (lo + hi)
        shift = predict_walk(np.sign(want) * speed, duration, settle, loco)
        lo, hi = (duration, hi) if abs(shift) < abs(want) else (lo, duration)
    return duration, shift


@dataclass(frozen=True)
class Plan:
    segments: list[Segment]
    side: str                     # grasping hand (layout.carrying_hand; the cube's side in the walk task)
    base_shift: float             # predicted robot base y shift while grasping (walk task), m
    palm_grasp: np.ndarray        # robot frame (at the grasp)
    palm_place: np.ndarray        # robot frame (at the release)
    engage_at: float = 0.0        # s from the plan start: engage the teleop here (hands at the hanging pose)
    expected_base: tuple = ()     # per segment: planned base position (x, y) in the episode-start frame
    calibrate_at: float = 0.0     # s from the plan start: calibration instant (the reference pose is held)

    @property
    def duration(self) -> float:
        return float(sum(s.duration for s in self.segments))

    def labels(self) -> list[str]:
        return [s.label for s in self.segments]


def _target(pos, rpy) -> WristTarget:
    return WristTarget(tuple(float(v) for v in pos), tuple(float(v) for v in rpy))


def plan_demo(layout, params: PlanParams = PlanParams(), loco: LocomotionParams = LocomotionParams()) -> Plan:
    """The demonstration for `layout` (a psi0_sim.layout.Layout)."""
    p = params
    # the hand whose side of the table holds both objects (psi0_sim.layout guarantees one does)
    side = layout.cube_side if layout.task == "cube_in_box_walk" else carrying_hand(layout)
    sign = 1.0 if side == "left" else -1.0
    grip = f"{side}_grip"
    wrist = f"{side}_wrist"
    to_robot_z = -p.sim_height_offset
    cube = np.array([layout.cube_xy[0], layout.cube_xy[1], TABLE_TOP_Z + CUBE_HALF + to_robot_z])
    box = np.array([layout.box_xy[0], layout.box_xy[1], 0.0])

    down = {f"{sd}_wrist": _target(*hanging_palm(sd)) for sd in SIDES}
    segs: list[Segment] = [Segment(p.settle_time, "reference pose", rest_arms=True, left_grip=0.0, right_grip=0.0),
                           Segment(p.hands_down_time, "hands down", **down)]
    engage_at = sum(sg.duration for sg in segs)
    shift = 0.0
    walking = layout.task == "cube_in_box_walk"
    if walking:
        want = cube[1] - sign * p.reach_y            # pelvis y that puts the cube at reach_y to the side
        duration, shift = walk_for(want, p.walk_speed, p.walk_settle, loco)
        segs.append(Segment(duration, "walk to the cube", walk=(0.0, float(np.sign(want) * p.walk_speed))))
        segs.append(Segment(p.walk_settle, "stand"))
    offset = np.array([0.0, shift, 0.0])
    rpy = grasp_rpy(side, layout.cube_yaw, p)
    grasp = palm_for_cube(side, cube, layout.cube_yaw, p) - offset
    above = grasp + np.array([0.0, 0.0, p.hover])
    high = grasp + np.array([0.0, 0.0, p.raise_height])
    high[0] = min(high[0], p.clear_x)
    hang_pos, hang_rpy = hanging_palm(side)
    up = np.array([hang_pos[0], hang_pos[1], p.lift_palm_z - p.sim_height_offset])
    segs += [
        Segment(p.lift_hand_time, "lift the hand", **{wrist: _target(up, hang_rpy)}),
        Segment(0.5 * p.reach_time, "raise the hand", **{wrist: _target(high, rpy)}),
        Segment(0.5 * p.reach_time, "over the cube", **{wrist: _target(above, rpy)}),
        Segment(p.align_time, "align", **{wrist: _target(above, rpy)}),
        Segment(p.descend_time, "descend", **{wrist: _target(grasp, rpy)}),
        Segment(p.settle_grasp_time, "settle", **{wrist: _target(grasp, rpy)}),
        Segment(p.close_time, "close", **{grip: 1.0}),
        Segment(p.lift_time, "lift", **{wrist: _target(grasp + np.array([0.0, 0.0, p.lift]), rpy)}),
    ]
    if walking:          # back slower: the caged cube slips under hard lateral accelerations
        duration, shift_back = walk_for(-shift, p.walk_back_speed, p.walk_settle, loco)
        segs.append(Segment(duration, "walk back", walk=(0.0, float(np.sign(shift_back) * p.walk_back_speed))))
        segs.append(Segment(p.walk_settle, "stand"))
        offset = np.array([0.0, shift + shift_back, 0.0])
    box_yaw_rpy = rpy
    place_cube = np.array([box[0], box[1], TABLE_TOP_Z + to_robot_z + p.box_floor + p.place_clearance + 0.02])
    place = palm_for_cube(side, place_cube, rpy[2], p, held=True) - offset
    carry = place.copy()
    carry[2] = grasp[2] + p.lift
    segs += [
        Segment(p.carry_time, "over the box", **{wrist: _target(carry, box_yaw_rpy)}),
        Segment(p.align_time, "align over the box", **{wrist: _target(carry, box_yaw_rpy)}),
        Segment(p.lower_time, "lower", **{wrist: _target(place, box_yaw_rpy)}),
        Segment(p.open_time, "open", **{grip: 0.0}),
        Segment(p.retreat_time, "raise", **{wrist: _target(place + np.array([0.0, 0.0, p.hover]), box_yaw_rpy)}),
    ]
    back = place + np.array([0.0, 0.0, p.hover])
    back[0] = min(back[0], p.clear_x - 0.08)
    segs += [
        Segment(p.retreat_time, "pull back", **{wrist: _target(back, box_yaw_rpy)}),
        # turn the hand back while it is high and close to the body, then lower it: one slow rotation at a
        # time keeps the light wrist joints well under the bridge's joint-speed guard
        Segment(p.turn_back_time, "turn the hand", **{wrist: _target(back, hang_rpy)}),
        Segment(p.rest_time, "hands down", **{wrist: down[wrist]}),
    ]
    if p.tempo != 1.0:                    # walks keep their predicted timing; everything else slows down
        segs = [sg if sg.walk != (0.0, 0.0) else dataclasses.replace(sg, duration=sg.duration * p.tempo)
                for sg in segs]
        engage_at = sum(sg.duration for sg in segs[:2])
    shift_back = shift_back if walking else 0.0
    expected, pos = [], np.zeros(2)
    for sg in segs:                       # the walks move the base by +shift then -shift (predicted)
        expected.append((float(pos[0]), float(pos[1])))
        if sg.label == "walk to the cube":
            pos = pos + (0.0, shift)
        elif sg.label == "walk back":
            pos = pos + (0.0, shift_back)
    return Plan(segs, side, shift, grasp, place, engage_at=engage_at, calibrate_at=0.8 * segs[0].duration,
                expected_base=tuple(expected))


@functools.lru_cache(maxsize=2)
def hanging_palm(side: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Palm pose (robot frame) of psi0_common.g1.DEFAULT_BODY_POSE: where a reset puts the hands. The
    demonstration starts and ends there, so the teleop never pulls the arms through the table edge."""
    import mujoco

    from psi0_sim.robot import SCENE_XML

    model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
    data = mujoco.MjData(model)
    for name, q in zip(g1.BODY_NAMES, g1.DEFAULT_BODY_POSE):
        data.qpos[model.jnt_qposadr[model.joint(f"{name}_joint").id]] = q
    data.qpos[2] = g1.NOMINAL_PELVIS_HEIGHT      # IK frame: floor under the pelvis at the nominal height
    mujoco.mj_kinematics(model, data)
    site = data.site(f"{side}_palm")
    r = site.xmat.reshape(3, 3)
    rpy = (float(np.arctan2(r[2, 1], r[2, 2])), float(-np.arcsin(np.clip(r[2, 0], -1, 1))),
           float(np.arctan2(r[1, 0], r[0, 0])))
    return site.xpos.copy(), rpy


__all__ = ["Plan", "PlanParams", "plan_demo", "predict_walk", "walk_for", "grasp_rpy", "palm_for_cube", "hanging_palm"]
