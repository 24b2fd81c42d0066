"""ROS-side helpers of psi0_bringup (launch descriptions); these import launch/launch_ros."""
