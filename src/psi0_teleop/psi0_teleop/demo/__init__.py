"""Scripted demonstrator: plans synthetic-operator scripts from a task layout (ROS-free).

`planner.plan_demo(layout)` turns a seeded scene (`psi0_sim.layout.sample_layout`)
into a time-parameterized list of synthetic-operator segments (wrist targets in
the robot frame, glove closure, walking); `scripted_operator_node` plays it
through the teleop node's inputs, so the demonstration runs the real teleop ->
AMO bridge -> sim path.
"""
