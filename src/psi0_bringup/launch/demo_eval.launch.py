"""ros2 launch psi0_bringup demo_eval.launch.py [overrides:='node.param=value ...']: the 'demo_eval' profile."""
from psi0_bringup.ros.launch_description import profile_launch_description


def generate_launch_description():
    return profile_launch_description("demo_eval")
