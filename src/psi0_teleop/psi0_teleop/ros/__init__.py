"""rclpy/message adapters of psi0_teleop (the only part besides *_node.py that imports ROS)."""
