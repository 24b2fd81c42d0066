import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

TOOL = Path(__file__).resolve().parents[1] / "fix_ros_wheel_cmake.py"

BROKEN = ('set(_exported_include_dirs "/opt/python/cp311-cp311/include/python3.11;'
          '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include")\n')


def test_rewrites_wheel_build_paths_idempotently(tmp_path):
    cmake = tmp_path / "share/std_msgs/cmake/export_std_msgs__rosidl_generator_pyExport.cmake"
    cmake.parent.mkdir(parents=True)
    cmake.write_text(BROKEN)
    untouched = tmp_path / "share/other/cmake/otherConfig.cmake"
    untouched.parent.mkdir(parents=True)
    untouched.write_text("set(X 1)\n")
    first = subprocess.run([sys.executable, str(TOOL), str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0 and "fixed 1 file" in first.stdout
    text = cmake.read_text()
    assert "/opt/python" not in text
    assert sysconfig.get_paths()["include"] in text and numpy.get_include() in text
    second = subprocess.run([sys.executable, str(TOOL), str(tmp_path)], capture_output=True, text=True)
    assert second.returncode == 0 and "fixed 0 file" in second.stdout
    assert cmake.read_text() == text and untouched.read_text() == "set(X 1)\n"


def test_workspace_venv_has_no_build_paths_left():
    share = Path(sys.prefix) / "share"
    leftovers = [p for p in share.rglob("*.cmake") if "/opt/python/cp3" in p.read_text(errors="ignore")]
    assert not leftovers
