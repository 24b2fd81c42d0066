"""ros2 launch psi0_bringup teleop_record.launch.py [overrides:='node.param=value ...']: the 'teleop_record' profile."""
from psi0_bringup.ros.launch_description import profile_launch_description


def generate_launch_description():
    return profile_launch_description("teleop_record")
