"""Which config class describes the parameters of which node executable.

`psi0 launch` validates a profile's parameters with these classes before any
process starts, so a typo fails in a second with a "did you mean", not after
the sim has booted. Classes are imported lazily and are ROS-free.
"""
from __future__ import annotations

import importlib

NODE_CONFIGS: dict[tuple[str, str], str] = {
    ("psi0_bringup", "graph_monitor"): "psi0_bringup.monitor:MonitorConfig",
    ("psi0_bringup", "episode_runner"): "psi0_bringup.episodes:EpisodeRunnerConfig",
    ("psi0_policy", "amo_bridge_node"): "psi0_policy.bridge.config:BridgeConfig",
    ("psi0_sim", "sim_node"): "psi0_sim.config:SimConfig",
    ("psi0_policy", "camera_node"): "psi0_policy.camera.config:CameraConfig",
    ("psi0_policy", "policy_node"): "psi0_policy.policy_config:PolicyNodeConfig",
    ("psi0_teleop", "teleop_node"): "psi0_teleop.config:TeleopConfig",
    ("psi0_teleop", "operator_driver"): "psi0_teleop.config:OperatorDriverConfig",
    ("psi0_teleop", "episode_recorder"): "psi0_teleop.config:RecorderConfig",
    ("psi0_teleop", "scripted_operator"): "psi0_teleop.demo.config:ScriptedOperatorConfig",
}


def config_class(package: str, executable: str):
    target = NODE_CONFIGS.get((package, executable))
    if target is None:
        return None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
