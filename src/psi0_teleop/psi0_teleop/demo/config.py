"""Parameters of the scripted_operator node (ROS-free, validated)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common import topics
from psi0_common.config import param, validate


@dataclass(frozen=True)
class ScriptedOperatorConfig:
    task: str = param("", "Task to plan for; empty = the task the sim reports in TaskState.")
    operator_seed: int = param(0, "Synthetic operator seed (body size, tracker mounting, sway); keep it fixed "
                                  "across episodes so the teleop calibration stays valid.", low=0, high=2**31 - 1)
    start_delay: float = param(1.5, "Seconds after a sim reset before the plan starts (>= the episode runner's "
                                    "settle, so recording has started; > 0.5 s teleop jump window).",
                               low=0.6, high=30.0)
    device_rate_hz: float = param(90.0, "Tracker sample rate (Hz), as the PICO.", low=1.0, high=500.0)
    poll_hz: float = param(100.0, "How often the operator is polled and samples published (Hz).",
                           low=1.0, high=1000.0)
    feedback_gain: float = param(5.0, "Hand-eye correction: 1/s of wrist offset per metre of palm error (the "
                                      "operator watching the robot's hand); 0 = open loop.", low=0.0, high=20.0)
    feedback_limit: float = param(0.06, "Largest hand-eye correction per axis (m).", low=0.0, high=0.2)
    tempo: float = param(1.0, "Slow the demonstration down by this factor (arm and hand segments; walks keep "
                              "their timing); > 1 on a loaded machine where the sim runs slower than real time.",
                         low=0.5, high=4.0)
    rearm_bridge: bool = param(False, "Before engaging in each episode, call the AMO bridge's reset service (a no-op "
                                      "unless it latched DAMPING/ESTOP), like an operator re-arming the robot before "
                                      "the next demonstration. Sim recording only: never on a real robot.")
    engage: bool = param(True, "Calibrate (first episode) and engage the teleop through its services at the "
                               "plan's calibrate/engage instants.")
    model_path: str = param("", "G1 MJCF for the robot reference pose; empty = psi0_sim's model.")
    trackers_topic: str = param(topics.TRACKERS, "psi0_msgs/TrackerFrames output.")
    gloves_topic: str = param(topics.GLOVES, "psi0_msgs/GloveState output.")

    def __post_init__(self):
        validate(self)
