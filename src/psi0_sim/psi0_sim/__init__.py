"""MuJoCo simulated Unitree G1 with Dex3 hands and head camera that speaks the robot's own unitree_hg topics."""
