"""Parameters of the simulated G1 (the `sim_node` ROS parameters, validated)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common.config import param, validate

BASE_MODES = ("fixed", "kinematic", "floating")
TASKS = ("cube_in_box", "cube_in_box_walk", "cube_in_box_near")  # psi0_sim.layout.TASK_NAMES (kept import-free of MuJoCo)


@dataclass(frozen=True)
class SimConfig:
    base_mode: str = param("kinematic", "How the pelvis moves: fixed in place, kinematic (follows SimBaseCommand "
                           "velocities and height ideally), or floating (full physics, for AMO sim-to-sim).",
                           choices=BASE_MODES)
    base_height: float = param(0.0, "Initial pelvis height (m) in the fixed and kinematic modes; 0 = the height "
                               "at which the soles of the default pose touch the floor.", low=0.0, high=1.2)
    physics_rate: float = param(500.0, "Physics steps per second of simulated time (the model's dt is 1/rate).",
                                low=100.0, high=2000.0)
    lowstate_decimation: int = param(1, "Publish /lowstate every N physics steps (1 = 500 Hz like the robot).",
                                     low=1, high=100)
    hand_state_rate: float = param(100.0, "Dex3 state publication rate (Hz).", low=1.0, high=500.0)
    real_time: bool = param(True, "Pace physics to the wall clock; false runs as fast as it can.")
    command_timeout: float = param(0.25, "Seconds a LowCmd/HandCmd stays in force; after that the motors go limp "
                                   "(kp = 0, kd = limp_kd) like a robot whose commands stopped.", low=0.01, high=10.0)
    base_command_timeout: float = param(0.5, "Seconds a SimBaseCommand velocity stays in force before the base "
                                        "stops (height is kept).", low=0.01, high=10.0)
    limp_kd: float = param(1.0, "Damping (N m s/rad) of limp motors after a command timeout; 0 = no torque.",
                           low=0.0, high=20.0)
    hold_default_pose: bool = param(True, "Until the first valid command arrives, hold psi0_common.g1."
                                    "DEFAULT_BODY_POSE with the default gains (a robot standing ready); false "
                                    "starts limp.")
    mode_machine: int = param(5, "LowState.mode_machine reported (the G1 29-DoF body type).", low=0, high=255)
    camera_enabled: bool = param(True, "Render and publish the head camera.")
    camera_rate: float = param(30.0, "Head camera frame rate (Hz).", low=1.0, high=60.0)
    camera_width: int = param(320, "Rendered image width (px); 4:3 with the D435i colour stream's 42.5 deg "
                              "vertical field of view.", low=16, high=1280)
    camera_height: int = param(240, "Rendered image height (px).", low=16, high=960)
    camera_frame_id: str = param("head_camera_color_optical_frame", "frame_id of the image and CameraInfo.")
    task: str = param("cube_in_box", "Task of the scene and of the success detector.", choices=TASKS)
    seed: int = param(0, "Seed of the first episode's object-pose randomization.", low=0, high=2**31 - 1)
    task_state_rate: float = param(10.0, "TaskState publication rate (Hz).", low=0.1, high=100.0)
    diagnostics_period: float = param(1.0, "Seconds between /diagnostics messages.", low=0.1, high=60.0)
    nice: int = param(0, "Scheduling niceness of the sim's threads (-20..19), to favour the sim over batch jobs "
                      "on a shared machine; below 0 needs CAP_SYS_NICE (if refused, the node warns and runs at 0).",
                      low=-20, high=19)
    scene: str = param("", "MJCF scene file; empty = the packaged table scene (psi0_sim/assets/scene.xml).")

    def __post_init__(self):
        validate(self)

    @property
    def dt(self) -> float:
        return 1.0 / self.physics_rate
