"""psi0 offline pipeline: rosbag2 recordings -> dataset -> trainer -> checkpoints. ROS-free."""
