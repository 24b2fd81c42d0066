"""The AMO bridge core: the single, safe writer of the G1's low-level commands (ROS-free).

`Bridge` (core.py) owns the safety state machine and command shaping;
backends.py and amo.py turn the 36-D action into lower-body targets. The
rclpy adapter is psi0_policy/amo_bridge_node.py.
"""
