"""PICO trackers and MANUS gloves to multi-target IK on the G1, publishing the same whole-body action as the policy; episode recorder."""
