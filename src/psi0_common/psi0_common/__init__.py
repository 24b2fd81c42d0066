"""ROS-free core shared by every psi0 package (rclpy lives only in psi0_common.rosutil)."""
