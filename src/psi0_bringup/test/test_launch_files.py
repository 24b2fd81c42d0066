"""The launch files (run on full ROS installs, where launch_ros exists) point at real profiles.

launch_ros is not installable on pip-only machines, so the files are checked
statically here; `psi0 launch` runs the same profiles through the same loader.
"""
import ast
from pathlib import Path

from psi0_bringup.profile import available_profiles

LAUNCH_DIR = Path(__file__).resolve().parents[1] / "launch"


def default_profile(path: Path) -> str:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "profile_launch_description":
            return node.args[0].value
    raise AssertionError(f"{path.name} does not call profile_launch_description")


def test_every_launch_file_names_an_existing_profile():
    files = sorted(LAUNCH_DIR.glob("*.launch.py"))
    assert files
    profiles = available_profiles()
    for f in files:
        name = default_profile(f)
        assert name in profiles, f"{f.name} launches unknown profile {name!r}"
        if f.name != "profile.launch.py":
            assert f.name == f"{name}.launch.py"


def test_every_profile_has_a_launch_file():
    names = {f.name for f in LAUNCH_DIR.glob("*.launch.py")}
    for profile in available_profiles():
        assert f"{profile}.launch.py" in names, f"profile {profile} has no launch file"
