"""Camera node, Psi0 VLA policy node with real-time chunking, and the AMO lower-body bridge that owns the G1's low-level commands."""
