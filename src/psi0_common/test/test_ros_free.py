"""Core modules must import on a machine without ROS (training boxes, CI without rclpy).

Each module is imported in a fresh interpreter where `rclpy` and every ROS
message package raise ImportError. Only `*_node.py` modules, `rosutil`
helpers and launch files may import ROS.
"""
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ["src/psi0_common", "src/psi0_policy", "src/psi0_teleop", "src/psi0_sim", "src/psi0_bringup", "training"]
ROS_ONLY = ("_node.py", "/rosutil/", "/ros/")

BLOCKER = r"""
import importlib.abc, sys
BLOCKED = {"rclpy", "rcl_interfaces", "std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs",
           "std_srvs", "builtin_interfaces", "unitree_hg", "psi0_msgs", "launch", "launch_ros"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"ROS module {name} imported by ROS-free code")
        return None
sys.meta_path.insert(0, Block())
import importlib, traceback
failed = 0
for mod in sys.argv[1:]:
    try:
        importlib.import_module(mod)
    except Exception:
        failed += 1
        print(f"--- {mod}:\n{traceback.format_exc(limit=3)}")
sys.exit(1 if failed else 0)
"""


def core_modules():
    mods = []
    for pkg in PACKAGES:
        base = ROOT / pkg
        for py in sorted(base.glob("psi0_*/**/*.py")):
            rel = py.relative_to(base).as_posix()
            if any(tag in "/" + rel for tag in ROS_ONLY) or "/test" in rel:
                continue
            mods.append(rel[:-3].replace("/", ".").removesuffix(".__init__"))
    return mods


def test_core_modules_found():
    mods = core_modules()
    assert "psi0_common.unitree_codec" in mods and "psi0_bringup.profile" in mods


def test_core_modules_import_without_ros():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *core_modules()], capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, f"ROS-free modules that need ROS or fail to import:\n{proc.stdout[-6000:]}"


def test_the_blocker_catches_a_ros_import(tmp_path):
    (tmp_path / "leaky_core.py").write_text("import rclpy\n")
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "leaky_core"], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1 and "ROS module rclpy imported by ROS-free code" in proc.stdout
