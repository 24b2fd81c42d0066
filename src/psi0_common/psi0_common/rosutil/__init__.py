"""Thin rclpy helpers. The only part of psi0_common that imports ROS."""
