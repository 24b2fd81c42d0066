"""ros2 launch psi0_bringup profile.launch.py profile:=<name or path>: any psi0 profile."""
from psi0_bringup.ros.launch_description import profile_launch_description


def generate_launch_description():
    return profile_launch_description("sim")
