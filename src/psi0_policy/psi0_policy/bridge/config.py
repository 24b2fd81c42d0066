"""Parameters of the AMO bridge (`amo_bridge_node`), as one frozen dataclass.

ROS-free: the node declares these as ROS parameters (psi0_common.rosutil),
the profile runner validates profiles against them, and docs/bridge.md
prints them with `markdown_table`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psi0_common import g1
from psi0_common.config import ConfigError, param, validate

_KP, _KD = g1.body_gains()

BACKENDS = ("hold", "kinematic", "amo")
SOURCES = ("policy", "teleop", "replay", "any")
# WholeBodyAction.source values (psi0_msgs/msg/WholeBodyAction.msg).
SOURCE_IDS = {"unknown": 0, "policy": 1, "teleop": 2, "replay": 3}
SOURCE_NAMES = {v: k for k, v in SOURCE_IDS.items()}
AMO_RATE_HZ = 50.0


@dataclass(frozen=True)
class BridgeConfig:
    # What drives the lower body.
    backend: str = param("hold", "Lower-body backend: `amo` (AMO TorchScript policy, real robot / floating-base "
                         "sim), `kinematic` (psi0_sim's kinematic base: waist from torso rpy, legs by analytic "
                         "squat, base velocity + height sent to the sim), `hold` (hold the measured lower-body "
                         "pose).", choices=BACKENDS)
    source: str = param("policy", "Which WholeBodyAction.source may drive; actions from any other source are "
                        "ignored and counted. `any` accepts every source (use only when one publisher runs).",
                        choices=SOURCES)
    # Loop rates.
    control_rate_hz: float = param(50.0, "LowCmd publish rate (Hz). AMO runs at 50 Hz, so with `amo` this must "
                                   "be a multiple of 50.", low=50.0, high=500.0)
    hand_rate_hz: float = param(100.0, "Dex3 HandCmd publish rate (Hz).", low=10.0, high=500.0)
    # AMO weights.
    amo_policy_path: str = param("", "AMO policy TorchScript (amo_jit.pt); required with backend `amo`.")
    amo_adapter_path: str = param("", "AMO adapter TorchScript (adapter_jit.pt); required with backend `amo`.")
    amo_norm_stats_path: str = param("", "AMO adapter normalization statistics (adapter_norm_stats.pt); "
                                     "required with backend `amo`.")
    amo_device: str = param("cpu", "Torch device for AMO inference.", choices=("cpu", "cuda"))
    yaw_mode: str = param("rate", "How AMO's target yaw is made: `rate` integrates action[34] (yaw rate), "
                          "`target` takes action[35] (target yaw, relative to the start-up heading).",
                          choices=("rate", "target"))
    # Start-up.
    startup_settle: float = param(0.2, "LowState must arrive without a gap for this long (s) before the first "
                                  "ramp starts; until then nothing is sent (a sim or robot still starting up).",
                                  low=0.0, high=5.0)
    ramp_duration: float = param(2.0, "Start-up ramp from the measured pose to the first command (s).",
                                 low=2.0, high=30.0)
    # Watchdogs and limits that send the robot to HOLD / DAMPING.
    action_hold_timeout: float = param(0.2, "No valid action for this long (s): HOLD (stop walking, keep pose).",
                                       low=0.02, high=5.0)
    action_damping_timeout: float = param(1.0, "No valid action for this long (s): DAMPING (latched).",
                                          low=0.1, high=30.0)
    lowstate_timeout: float = param(0.1, "No LowState for this long (s): DAMPING (latched).", low=0.01, high=2.0)
    max_tilt: float = param(g1.MAX_TILT_RAD, "Pelvis tilt from upright beyond which the bridge damps (rad).",
                            low=0.1, high=1.5)
    max_joint_velocity: float = param(g1.MAX_JOINT_VELOCITY, "Measured joint speed beyond which the bridge "
                                      "damps (rad/s).", low=1.0, high=30.0)
    max_angular_velocity: float = param(g1.MAX_ANGULAR_VELOCITY, "Measured pelvis angular speed beyond which "
                                        "the bridge damps (rad/s).", low=1.0, high=30.0)
    hand_state_timeout: float = param(0.5, "No Dex3 state for this long (s): that hand goes limp (kp 0).",
                                      low=0.05, high=5.0)
    # Gains.
    body_kp: list[float] = param(list(_KP), "Per-motor stiffness for the 29 body motors (Unitree order).",
                                 low=0.0, high=1000.0)
    body_kd: list[float] = param(list(_KD), "Per-motor damping for the 29 body motors (Unitree order).",
                                 low=0.0, high=50.0)
    hand_kp: list[float] = param([g1.DEX3_KP] * g1.NUM_HAND, "Per-motor Dex3 stiffness (7 motors, both hands).",
                                 low=0.0, high=10.0)
    hand_kd: list[float] = param([g1.DEX3_KD] * g1.NUM_HAND, "Per-motor Dex3 damping (7 motors, both hands).",
                                 low=0.0, high=2.0)
    damping_kd: float = param(g1.DAMPING_KD, "Body damping gain in DAMPING / ESTOP (kp is 0).", low=0.5,
                              high=20.0)
    hand_damping_kd: float = param(g1.DEX3_KD, "Dex3 damping gain when a hand goes limp (kp is 0).", low=0.0,
                                   high=2.0)
    # Command shaping: per-joint velocity caps on every command.
    leg_velocity_cap: float = param(8.0, "Largest commanded leg joint speed (rad/s); caps the step per tick.",
                                    low=0.1, high=20.0)
    waist_velocity_cap: float = param(3.0, "Largest commanded waist joint speed (rad/s).", low=0.1, high=20.0)
    arm_velocity_cap: float = param(3.0, "Largest commanded arm joint speed (rad/s).", low=0.1, high=20.0)
    hand_velocity_cap: float = param(6.0, "Largest commanded Dex3 joint speed (rad/s).", low=0.1, high=30.0)
    # Action ranges (the action is clamped into these before use).
    min_base_height: float = param(0.45, "Lowest pelvis height command (m).", low=0.3, high=0.75)
    max_base_height: float = param(0.76, "Highest pelvis height command (m).", low=0.6, high=0.85)
    max_torso_roll: float = param(0.52, "Largest |torso roll| command (rad).", low=0.0, high=0.7)
    min_torso_pitch: float = param(-0.52, "Lowest torso pitch command (rad).", low=-0.7, high=0.0)
    max_torso_pitch: float = param(0.52, "Highest torso pitch command (rad; waist pitch limit 0.52 in "
                                   "`kinematic`, AMO can pitch the pelvis further).", low=0.0, high=1.57)
    max_torso_yaw: float = param(1.57, "Largest |torso yaw| command (rad).", low=0.0, high=2.6)
    max_vx: float = param(0.5, "Largest |vx| command (m/s).", low=0.0, high=1.0)
    max_vy: float = param(0.4, "Largest |vy| command (m/s).", low=0.0, high=1.0)
    max_yaw_rate: float = param(0.5, "Largest |yaw rate| command (rad/s).", low=0.0, high=1.5)
    # Kinematic backend geometry.
    thigh_length: float = param(0.337, "Hip-pitch to knee distance in the sagittal plane for the analytic squat "
                                "(m; psi0_sim's G1 leg).", low=0.1, high=0.6)
    shank_length: float = param(0.30, "Knee to ankle-pitch distance for the analytic squat (m).", low=0.1,
                                high=0.6)
    max_height_rate: float = param(0.3, "Fastest change of the squat height in `kinematic` (m/s); psi0_sim's "
                                   "base moves at most 0.5 m/s.", low=0.02, high=1.0)
    sim_height_offset: float = param(0.0, "Added to the pelvis height sent to the sim (SimBaseCommand.height): "
                                     "the sim's pelvis height in the default pose minus the nominal 0.75 m "
                                     "(psi0_sim: 0.034).", low=-0.2, high=0.2)
    # Node-side behaviour.
    writer_check_period: float = param(0.25, "How often to look for another /lowcmd publisher (s).", low=0.05,
                                       high=5.0)
    diagnostics_period: float = param(1.0, "Period of /diagnostics and the periodic bridge state (s).",
                                      low=0.1, high=10.0)
    realtime_priority: int = param(0, "SCHED_FIFO priority for the command thread (0: normal scheduling; needs "
                                   "CAP_SYS_NICE, falls back with a warning).", low=0, high=98)
    command_lead_time: float = param(0.002, "The command thread computes each LowCmd this long before its deadline "
                                     "and sends it on the deadline, so the send time does not vary with the "
                                     "tick's work (s; at most half a period is used; 0: compute and send at "
                                     "the deadline).", low=0.0, high=0.01)

    def __post_init__(self):
        validate(self)
        for name, n in (("body_kp", g1.NUM_BODY), ("body_kd", g1.NUM_BODY), ("hand_kp", g1.NUM_HAND),
                        ("hand_kd", g1.NUM_HAND)):
            if len(getattr(self, name)) != n:
                raise ConfigError(f"BridgeConfig.{name}: expected {n} values (one per motor), "
                                  f"got {len(getattr(self, name))}")
        if self.action_damping_timeout <= self.action_hold_timeout:
            raise ConfigError("BridgeConfig.action_damping_timeout must be longer than action_hold_timeout")
        if self.min_base_height >= self.max_base_height:
            raise ConfigError("BridgeConfig.min_base_height must be below max_base_height")
        if self.backend == "amo":
            ratio = self.control_rate_hz / AMO_RATE_HZ
            if abs(ratio - round(ratio)) > 1e-9:
                raise ConfigError(f"BridgeConfig.control_rate_hz: {self.control_rate_hz} is not a multiple of "
                                  f"AMO's {AMO_RATE_HZ:g} Hz")
            missing = [n for n in ("amo_policy_path", "amo_adapter_path", "amo_norm_stats_path")
                       if not getattr(self, n)]
            if missing:
                raise ConfigError(f"BridgeConfig: backend 'amo' needs {', '.join(missing)} (paths to AMO's "
                                  "amo_jit.pt, adapter_jit.pt, adapter_norm_stats.pt)")

    @property
    def period(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def command_lead(self) -> float:
        return min(self.command_lead_time, 0.5 * self.period)

    @property
    def hand_period(self) -> float:
        return 1.0 / self.hand_rate_hz

    def body_velocity_caps(self) -> np.ndarray:
        """Per-motor command speed caps (rad/s) for the 29 body motors."""
        caps = np.empty(g1.NUM_BODY)
        caps[g1.LEGS] = self.leg_velocity_cap
        caps[g1.WAIST] = self.waist_velocity_cap
        caps[g1.LEFT_ARM] = self.arm_velocity_cap
        caps[g1.RIGHT_ARM] = self.arm_velocity_cap
        return caps

    def accepts(self, source_id: int) -> bool:
        return self.source == "any" or SOURCE_IDS[self.source] == int(source_id)
