"""rclpy adapters of the offline tools (bag replay). The only part of psi0_training that imports ROS."""
