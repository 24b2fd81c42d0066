"""Every topic and service name of the psi0 graph, in one place.

The robot's own names (unitree_ros2) are fixed by its firmware bridge; ours
live under /psi0. Nodes take these as defaults and allow remapping.
"""

# Unitree G1 low-level interface (real robot or psi0_sim).
LOWSTATE = "/lowstate"
LOWCMD = "/lowcmd"
DEX3_CMD = {"left": "/dex3/left/cmd", "right": "/dex3/right/cmd"}
DEX3_STATE = {"left": "/lf/dex3/left/state", "right": "/lf/dex3/right/state"}

# Camera: the sim's raw render, and the camera node's output the policy reads.
SIM_IMAGE = "/sim/head_camera/color/image_raw"
SIM_CAMERA_INFO = "/sim/head_camera/color/camera_info"
IMAGE = "/psi0/camera/image"
CAMERA_INFO = "/psi0/camera/camera_info"

# Whole-body action (policy or teleop) and policy outputs.
ACTION = "/psi0/action"                  # psi0_msgs/WholeBodyAction, 30 Hz
ACTION_CHUNK = "/psi0/action_chunk"      # psi0_msgs/ActionChunk
POLICY_STATUS = "/psi0/policy/status"    # psi0_msgs/PolicyStatus
TASK = "/psi0/task"                      # std_msgs/String
SET_TASK = "/psi0/set_task"              # psi0_msgs/srv/SetTask

# Teleoperation.
TRACKERS = "/psi0/teleop/trackers"       # psi0_msgs/TrackerFrames
GLOVES = "/psi0/teleop/gloves"           # psi0_msgs/GloveState
IK_JOINT_STATES = "/psi0/teleop/ik_joint_states"  # sensor_msgs/JointState

# Safety (AMO bridge).
ESTOP = "/psi0/estop"                    # std_msgs/Bool topic (true = stop) and std_srvs/Trigger service
ESTOP_RESET = "/psi0/estop_reset"        # std_srvs/Trigger
BRIDGE_STATE = "/psi0/bridge/state"      # std_msgs/String

# Simulation-only.
SIM_BASE_COMMAND = "/psi0/sim/base_command"  # psi0_msgs/SimBaseCommand (kinematic base)
SIM_TASK_STATE = "/psi0/sim/task_state"      # psi0_msgs/TaskState
SIM_RESET = "/psi0/sim/reset"                # psi0_msgs/srv/ResetSim

# Recording.
START_EPISODE = "/psi0/recorder/start_episode"  # psi0_msgs/srv/StartEpisode
STOP_EPISODE = "/psi0/recorder/stop_episode"    # psi0_msgs/srv/StopEpisode

DIAGNOSTICS = "/diagnostics"
