# Source this to enter the workspace environment: venv, built interfaces,
# and sane defaults for running the stack on one machine.
_psi0_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
source "$_psi0_root/.venv/bin/activate"
# colcon's setup scripts read unset variables; relax nounset while sourcing.
case $- in *u*) _psi0_nounset=1; set +u;; *) _psi0_nounset=0;; esac
# shellcheck disable=SC1091
source "$_psi0_root/install/setup.bash"
[ "$_psi0_nounset" = 1 ] && set -u
export PSI0_ROOT="$_psi0_root"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# The simulated robot lives on this machine: keep discovery local unless told otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export MUJOCO_GL="${MUJOCO_GL:-osmesa}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-$MUJOCO_GL}"
unset _psi0_root _psi0_nounset
