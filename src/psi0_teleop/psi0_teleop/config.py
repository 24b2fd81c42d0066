"""Typed, validated parameters of the teleop, operator-driver and recorder nodes (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common import topics
from psi0_common.config import ConfigError, param, validate

ENGAGE_SERVICE = "/psi0/teleop/engage"        # std_srvs/SetBool
CALIBRATE_SERVICE = "/psi0/teleop/calibrate"  # std_srvs/Trigger
RECORDER_STATUS = "/psi0/recorder/status"     # std_msgs/String (JSON)


@dataclass(frozen=True)
class TeleopConfig:
    rate_hz: float = param(30.0, "Action publishing rate (Hz).", low=1.0, high=200.0)
    model_path: str = param("", "G1 MJCF for the IK; empty = psi0_sim's assets/g1.xml (the simulator's model).")
    calibration_file: str = param("", "Calibration JSON to load at start (empty = calibrate on the first engage).")
    save_calibration_to: str = param("", "Where a new calibration is written (empty = not saved).")
    calibrate_on_engage: bool = param(True, "Without a loaded calibration, the first engage calibrates from the "
                                            "pose held at that moment (the reference pose).")
    start_engaged: bool = param(False, "Drive from the start (tests/demos); otherwise engage by button or service.")
    use_robot_state: bool = param(True, "Warm-start the IK from /lowstate arm and waist joints on engage.")
    max_age: float = param(0.1, "Tracker/glove data older than this (s) holds the robot and raises a flag.",
                           low=0.01, high=2.0)
    max_jump_m: float = param(0.25, "Tracker position jump (m) between samples that is rejected.", low=0.01, high=5.0)
    max_jump_rad: float = param(1.2, "Tracker rotation jump (rad) between samples that is rejected.",
                                low=0.05, high=3.2)
    # IK
    head_weight: float = param(2.5, "IK weight of the head target.", low=0.0, high=100.0)
    hand_weight: float = param(1.0, "IK weight of each palm target.", low=0.0, high=100.0)
    position_cost: float = param(1.0, "IK position cost (per m), multiplied by the target weight.", low=0.0, high=100.0)
    orientation_cost: float = param(0.5, "IK orientation cost (per rad), multiplied by the target weight.",
                                    low=0.0, high=100.0)
    posture_cost: float = param(0.02, "IK posture regularization towards the reference posture.", low=0.0, high=10.0)
    lm_damping: float = param(0.01, "Levenberg-Marquardt damping of the frame tasks (unreachable targets).",
                              low=0.0, high=10.0)
    ik_iterations: int = param(1, "IK QP iterations per control tick.", low=1, high=20)
    min_height: float = param(0.50, "Lowest pelvis height (m) the IK may command.", low=0.3, high=0.8)
    max_height: float = param(0.80, "Highest pelvis height (m) the IK may command.", low=0.5, high=0.9)
    torso_yaw_limit: float = param(1.57, "Largest |torso yaw| (rad).", low=0.0, high=2.6)
    max_arm_velocity: float = param(4.0, "Arm joint velocity limit in the IK (rad/s).", low=0.1, high=20.0)
    max_waist_velocity: float = param(1.5, "Waist joint velocity limit in the IK (rad/s).", low=0.1, high=10.0)
    max_height_velocity: float = param(0.4, "Pelvis height velocity limit in the IK (m/s).", low=0.01, high=2.0)
    # Locomotion
    velocity_gain: float = param(1.0, "Robot velocity per operator waist velocity above the dead-band.",
                                 low=0.0, high=5.0)
    velocity_cutoff_hz: float = param(1.5, "Low-pass cutoff on the waist velocity (Hz).", low=0.05, high=20.0)
    velocity_deadband: float = param(0.10, "Filtered waist speed (m/s) needed to start walking.", low=0.0, high=1.0)
    velocity_deadband_exit: float = param(0.06, "Filtered waist speed (m/s) below which walking stops.",
                                          low=0.0, high=1.0)
    sway_radius: float = param(0.08, "Waist excursion (m) around the standing spot treated as sway.",
                               low=0.0, high=1.0)
    max_vx: float = param(0.5, "Largest |vx| (m/s).", low=0.0, high=2.0)
    max_vy: float = param(0.4, "Largest |vy| (m/s).", low=0.0, high=2.0)
    yaw_deadband: float = param(0.15, "Feet yaw error (rad) tolerated before turning.", low=0.0, high=1.5)
    yaw_gain: float = param(2.0, "Yaw rate (rad/s) per rad of feet yaw error beyond the dead-band.",
                            low=0.0, high=20.0)
    max_yaw_rate: float = param(0.6, "Largest |yaw rate| (rad/s).", low=0.0, high=3.0)
    # Hands
    hand_cutoff_hz: float = param(8.0, "Low-pass cutoff on the Dex3 targets (Hz).", low=0.1, high=50.0)
    hand_max_speed: float = param(6.0, "Rate limit on the Dex3 targets (rad/s).", low=0.1, high=50.0)
    thumb_rotation_gain: float = param(1.5, "Dex3 thumb_0 rad per rad of glove thumb CMC spread.", low=0.0, high=5.0)
    # Topics
    trackers_topic: str = param(topics.TRACKERS, "psi0_msgs/TrackerFrames input.")
    gloves_topic: str = param(topics.GLOVES, "psi0_msgs/GloveState input.")
    action_topic: str = param(topics.ACTION, "psi0_msgs/WholeBodyAction output.")
    ik_topic: str = param(topics.IK_JOINT_STATES, "sensor_msgs/JointState of the IK solution.")
    estop_topic: str = param(topics.ESTOP, "std_msgs/Bool e-stop output (true = stop).")

    def __post_init__(self):
        validate(self)
        if self.min_height >= self.max_height:
            raise ConfigError(f"TeleopConfig: min_height {self.min_height} must be below max_height {self.max_height}")
        if self.velocity_deadband_exit > self.velocity_deadband:
            raise ConfigError("TeleopConfig: velocity_deadband_exit must not exceed velocity_deadband")


@dataclass(frozen=True)
class OperatorDriverConfig:
    device: str = param("synthetic", "Operator source.", choices=("synthetic", "replay", "xrobotoolkit"))
    seed: int = param(0, "Synthetic operator seed.", low=0, high=2**31 - 1)
    script: str = param("", "Synthetic operator script: a JSON/YAML file or inline list (empty = demo script).")
    session_file: str = param("", "Replay: recorded operator session (.jsonl).")
    record_session_to: str = param("", "Also write the published samples to this session file (.jsonl).")
    loop: bool = param(False, "Replay/script: start again at the end instead of stopping.")
    exit_when_done: bool = param(False, "Exit (code 0) when the script or replay ends.")
    poll_hz: float = param(200.0, "How often the device is polled (Hz).", low=1.0, high=1000.0)
    device_rate_hz: float = param(90.0, "Synthetic tracker rate (Hz); XRoboToolkit delivers at most 90 Hz.",
                                  low=1.0, high=500.0)
    model_path: str = param("", "G1 MJCF used to turn robot-frame script targets into operator poses.")
    trackers_topic: str = param(topics.TRACKERS, "psi0_msgs/TrackerFrames output.")
    gloves_topic: str = param(topics.GLOVES, "psi0_msgs/GloveState output.")

    def __post_init__(self):
        validate(self)
        if self.device == "replay" and not self.session_file:
            raise ConfigError("OperatorDriverConfig: device 'replay' needs session_file")


@dataclass(frozen=True)
class RecorderConfig:
    output_dir: str = param("recordings", "Directory that receives one bag directory per episode.")
    topics: list[str] = param([topics.IMAGE, topics.CAMERA_INFO, topics.LOWSTATE, topics.DEX3_STATE["left"],
                               topics.DEX3_STATE["right"], topics.ACTION, topics.TRACKERS, topics.GLOVES,
                               topics.TASK], "Topics recorded into each episode.")
    storage: str = param("mcap", "rosbag2 storage plugin.", choices=("mcap", "sqlite3"))
    operator_name: str = param("", "Default operator name stored in the metadata.")
    task: str = param("", "Default task string stored in the metadata (else the last /psi0/task message).")
    queue_size: int = param(10000, "Messages buffered between the subscriptions and the writer thread.",
                            low=10, high=10_000_000)
    flush_interval: float = param(1.0, "Seconds between forced flushes of the open bag to disk.", low=0.05,
                                  high=60.0)
    stop_drain: float = param(0.3, "Seconds the recorder keeps listening after a stop request.", low=0.0, high=10.0)
    console_keys: bool = param(True, "Read s (start) / x (stop) / d (discard) + Enter from the console if it is a TTY.")
    data_executor: str = param("single", "Executor of the recording subscriptions (own thread, own node "
                                          "<name>_data).", choices=("single", "multi"))
    history_depth: int = param(1000, "Subscription queue depth (KEEP_LAST) per recorded topic: how far the recorder "
                               "may fall behind before the middleware drops (2 s of 500 Hz lowstate).",
                               low=10, high=100000)
    nice: int = param(0, "Niceness change at start (negative = higher CPU priority than batch jobs; "
                         "needs CAP_SYS_NICE, else a warning).", low=-20, high=19)
    discovery_period: float = param(0.5, "Seconds between checks for publishers of topics not yet subscribed.",
                                    low=0.05, high=10.0)

    def __post_init__(self):
        validate(self)
        if not self.topics:
            raise ConfigError("RecorderConfig: topics must not be empty")
