"""The teleoperation core: operator samples in, the 36-D whole-body action out (ROS-free).

Per tracker sample: button edges (engage toggle, e-stop), jump check,
locomotion update. Per glove sample: Dex3 retargeting. Per control tick
(`step`, 30 Hz): freshness check, calibrated IK targets, one warm-started IK
solve, and the action. While not engaged `step` returns no action; while
engaged and the input is stale or rejected it returns the held action
(last arm/hand/torso/height, zero velocity, same target yaw) and flags it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from psi0_common import action_layout as al
from psi0_teleop.calibration import Calibration, OperatorMapper, calibrate
from psi0_teleop.config import TeleopConfig
from psi0_teleop.devices import GloveSample, TrackerSample
from psi0_teleop.ik import IKParams, IKResult, WholeBodyIK
from psi0_teleop.locomotion import LocomotionMapper, LocomotionParams
from psi0_teleop.retarget import HandRetargeter, RetargetParams
from psi0_teleop.safety import SafetyParams, TrackerGuard, is_stale


@dataclass
class TeleopStatus:
    engaged: bool = False
    calibrated: bool = False
    estop: bool = False
    trackers_stale: bool = True
    gloves_stale: bool = True
    holding: bool = False
    ik_ok: bool = True
    rejected_samples: int = 0
    ik_failures: int = 0
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        flags = [n for n in ("engaged", "calibrated", "estop", "trackers_stale", "gloves_stale", "holding")
                 if getattr(self, n)]
        if not self.ik_ok:
            flags.append("ik_failed")
        return ", ".join(flags) or "idle"


@dataclass(frozen=True)
class TeleopOutput:
    action: np.ndarray | None     # 36-D, None while not engaged
    ik: IKResult | None
    status: TeleopStatus
    estop: bool


def ik_params(cfg: TeleopConfig) -> IKParams:
    return IKParams(model_path=cfg.model_path, head_weight=cfg.head_weight, hand_weight=cfg.hand_weight,
                    position_cost=cfg.position_cost, orientation_cost=cfg.orientation_cost,
                    posture_cost=cfg.posture_cost, lm_damping=cfg.lm_damping,
                    height_range=(cfg.min_height, cfg.max_height), torso_yaw_limit=cfg.torso_yaw_limit,
                    max_arm_velocity=cfg.max_arm_velocity, max_waist_velocity=cfg.max_waist_velocity,
                    max_height_velocity=cfg.max_height_velocity)


def locomotion_params(cfg: TeleopConfig) -> LocomotionParams:
    return LocomotionParams(gain=cfg.velocity_gain, cutoff_hz=cfg.velocity_cutoff_hz,
                            deadband=cfg.velocity_deadband, deadband_exit=cfg.velocity_deadband_exit,
                            anchor_radius=cfg.sway_radius, max_vx=cfg.max_vx, max_vy=cfg.max_vy,
                            yaw_deadband=cfg.yaw_deadband, yaw_gain=cfg.yaw_gain, max_yaw_rate=cfg.max_yaw_rate)


class TeleopCore:
    def __init__(self, cfg: TeleopConfig = TeleopConfig(), ik: WholeBodyIK | None = None,
                 calibration: Calibration | None = None):
        self.cfg = cfg
        self.ik = ik if ik is not None else WholeBodyIK(ik_params(cfg))
        self.reference = self.ik.reference
        self.guard = TrackerGuard(SafetyParams(cfg.max_age, cfg.max_jump_m, cfg.max_jump_rad))
        self.loco = LocomotionMapper(locomotion_params(cfg))
        rp = RetargetParams(cfg.hand_cutoff_hz, cfg.hand_max_speed, cfg.thumb_rotation_gain)
        self.hands = {s: HandRetargeter(s, rp) for s in ("left", "right")}
        self.calibration: Calibration | None = None
        self.mapper: OperatorMapper | None = None
        if calibration is not None:
            self.set_calibration(calibration)
        self.status = TeleopStatus()
        self.latest: TrackerSample | None = None
        self.glove_stamp: float | None = None
        self.last_step: float | None = None
        self.held_action = al.standing_action()
        self._robot_joints: tuple[np.ndarray, np.ndarray] | None = None   # measured arms, waist (yaw, roll, pitch)
        self.robot_yaw = 0.0
        self._estop = False
        self._pending_engage = cfg.start_engaged

    # -- calibration & engage ------------------------------------------------------
    def set_calibration(self, cal: Calibration) -> None:
        self.calibration = cal
        self.mapper = OperatorMapper(cal, self.reference)

    def calibrate_now(self) -> Calibration:
        """Calibrate from the latest tracker sample (the operator holds the reference pose)."""
        if self.latest is None:
            raise ValueError("no tracker sample received yet: cannot calibrate")
        cal = calibrate(self.latest, self.reference)
        self.set_calibration(cal)
        if self.cfg.save_calibration_to:
            cal.save(self.cfg.save_calibration_to)
        return cal

    def set_engaged(self, on: bool) -> str:
        """Start or stop driving. Returns a message; starting may calibrate first."""
        if not on:
            self.status.engaged = False
            self.loco.hold()
            return "disengaged"
        if self._estop:
            return "e-stop is pressed: release it first"
        calibrated_now = False
        if self.calibration is None:
            if not self.cfg.calibrate_on_engage:
                return "not calibrated: call the calibrate service first"
            self.calibrate_now()
            calibrated_now = True
        self.ik.reset(self.robot_q)
        self.guard.reset()
        self.loco.reset(self.robot_yaw)
        self.status.engaged = True
        return "engaged" + (" (calibrated from the current pose)" if calibrated_now else "")

    def set_robot_state(self, arms: np.ndarray, waist_yaw_roll_pitch: np.ndarray, imu_yaw: float) -> None:
        """Latest measured arm and waist joints and IMU yaw (used to warm-start on engage)."""
        self._robot_joints = (np.asarray(arms, float), np.asarray(waist_yaw_roll_pitch, float))
        self.robot_yaw = float(imu_yaw)

    @property
    def robot_q(self) -> np.ndarray | None:
        if self._robot_joints is None:
            return None
        arms, (y, r, p) = self._robot_joints
        return self.ik.configuration_from(arms=arms, torso_rpy=(r, p, y),
                                          height=float(self.held_action[al.BASE_HEIGHT]))

    # -- inputs ------------------------------------------------------------------------
    def on_trackers(self, sample: TrackerSample) -> None:
        self._estop = bool(sample.estop)
        if sample.estop and self.status.engaged:
            self.set_engaged(False)
            self.status.messages.append("e-stop pressed: disengaged")
        accepted = self.guard.check(sample, strict=self.status.engaged)
        if accepted:
            self.latest = sample
        else:
            self.status.messages.append(f"rejected tracker sample: {self.guard.last_reason}")
        edge = self.guard.engage_edge(sample)
        if (edge or self._pending_engage) and not sample.estop:
            want = True if self._pending_engage else not self.status.engaged
            self._pending_engage = False
            try:
                self.status.messages.append(self.set_engaged(want))
            except ValueError as exc:
                self.status.messages.append(f"engage refused: {exc}")
        if accepted and self.status.engaged and self.mapper is not None:
            body, feet_yaw = self.mapper.locomotion_inputs(sample)
            self.loco.update(sample.stamp, None if body is None else body.origin[:2],
                             None if body is None else body.heading, feet_yaw)

    def on_gloves(self, sample: GloveSample) -> None:
        ok = False
        for side, r in self.hands.items():
            ok |= r.update(sample.hand(side), sample.stamp)
        if ok:
            self.glove_stamp = sample.stamp if self.glove_stamp is None else max(self.glove_stamp, sample.stamp)

    # -- control tick --------------------------------------------------------------------
    def step(self, now: float) -> TeleopOutput:
        dt = 1.0 / self.cfg.rate_hz if self.last_step is None else min(max(now - self.last_step, 1e-4), 0.2)
        self.last_step = now
        st = self.status
        st.estop = self._estop
        st.calibrated = self.calibration is not None
        st.trackers_stale = is_stale(None if self.latest is None else self.latest.stamp, now, self.cfg.max_age)
        st.gloves_stale = is_stale(self.glove_stamp, now, self.cfg.max_age)
        st.rejected_samples = self.guard.rejected
        st.ik_failures = self.ik.failures
        if not st.engaged or self._estop:
            st.holding = False
            return TeleopOutput(None, None, self._snapshot(), self._estop)
        action = self.held_action.copy()
        ik_result = None
        if st.trackers_stale or self.mapper is None:
            st.holding = True
            loco = self.loco.hold()
        else:
            targets, body, _ = self.mapper.map(self.latest)
            ik_result = self.ik.solve(targets, dt, iterations=self.cfg.ik_iterations)
            st.ik_ok = ik_result.ok
            if not ik_result.ok:
                st.messages.append(ik_result.message)
            action[al.ARMS] = ik_result.arms
            action[al.TORSO_RPY] = ik_result.torso_rpy
            action[al.BASE_HEIGHT] = ik_result.height
            loco = self.loco.command()
            st.holding = not ik_result.ok
        if not st.gloves_stale:
            action[al.LEFT_HAND] = self.hands["left"].step(dt)
            action[al.RIGHT_HAND] = self.hands["right"].step(dt)
        action[al.BASE_VX], action[al.BASE_VY] = loco.vx, loco.vy
        action[al.YAW_RATE], action[al.TARGET_YAW] = loco.yaw_rate, loco.target_yaw
        if st.holding or (ik_result is not None and not ik_result.ok):
            action[al.BASE_VX] = action[al.BASE_VY] = action[al.YAW_RATE] = 0.0
        action = al.validate_action(action)
        self.held_action = action.copy()
        self.held_action[[al.BASE_VX, al.BASE_VY, al.YAW_RATE]] = 0.0
        return TeleopOutput(action, ik_result, self._snapshot(), False)

    def _snapshot(self) -> TeleopStatus:
        return dataclasses.replace(self.status, messages=list(self.status.messages))

    def drain_messages(self) -> list[str]:
        msgs, self.status.messages = self.status.messages, []
        return msgs
