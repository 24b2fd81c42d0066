"""Build a `ros2 launch` description from a psi0 profile.

The launch files in launch/ call `profile_launch_description(name)`: the
nodes, parameters, remappings and environment come from the same profile
YAML that `psi0 launch` reads, so both paths start the same graph. A
required node's exit shuts the launch down, like the runner does.
"""
from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from psi0_bringup.profile import load_profile


def _actions(context):
    profile = load_profile(LaunchConfiguration("profile").perform(context),
                           LaunchConfiguration("overrides").perform(context).split())
    actions = [SetEnvironmentVariable(k, v) for k, v in profile.env.items()]
    for n in profile.nodes:
        actions.append(Node(
            package=n.package, executable=n.executable, name=n.name, output="screen",
            parameters=[n.parameters] if n.parameters else [], remappings=list(n.remappings.items()),
            arguments=n.args, respawn=n.respawn,
            on_exit=Shutdown(reason=f"required node {n.name} exited") if n.required else None))
    return actions


def profile_launch_description(default_profile: str) -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("profile", default_value=default_profile,
                              description="psi0 profile name (config/profiles/<name>.yaml) or path to a profile YAML"),
        DeclareLaunchArgument("overrides", default_value="",
                              description="space-separated node.param=value overrides, e.g. 'sim.camera_width=320'"),
        OpaqueFunction(function=_actions),
    ])
