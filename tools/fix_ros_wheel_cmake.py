"""Rewrite the build-machine paths baked into the ROS 2 wheels' CMake exports.

The `ros-*` wheels on PyPI were built under /opt/python/cp311-cp311; their
installed `export_*__rosidl_generator_pyExport.cmake` files still name that
Python include dir and that numpy include dir, and CMake refuses to generate
a rosidl package against them. We point them at this venv's real dirs.
Idempotent: files already fixed are left untouched.
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PREFIX = re.compile(r"/opt/python/cp3\d+-cp3\d+")


def real_paths() -> dict[str, str]:
    return {
        "python_include": sysconfig.get_paths()["include"],
        "numpy_include": numpy.get_include(),
    }


def fix_text(text: str, paths: dict[str, str]) -> str:
    # numpy first: its path also starts with the build prefix.
    text = re.sub(BUILD_PREFIX.pattern + r"/lib/python3\.\d+/site-packages/numpy/(_core|core)/include",
                  paths["numpy_include"], text)
    text = re.sub(BUILD_PREFIX.pattern + r"/include/python3\.\d+", paths["python_include"], text)
    return text


def main(prefix: str | None = None) -> int:
    # The wheels install their CMake config under <venv>/share/<pkg>/cmake.
    root = Path(prefix or sys.prefix) / "share"
    paths = real_paths()
    changed = 0
    for cmake_file in root.rglob("*.cmake"):
        text = cmake_file.read_text(errors="surrogateescape")
        if "/opt/python/cp3" not in text:
            continue
        fixed = fix_text(text, paths)
        if fixed != text:
            cmake_file.write_text(fixed, errors="surrogateescape")
            changed += 1
    leftover = [p for p in root.rglob("*.cmake") if "/opt/python/cp3" in p.read_text(errors="ignore")]
    print(f"fix_ros_wheel_cmake: fixed {changed} file(s) under {root}")
    if leftover:
        print("fix_ros_wheel_cmake: build paths remain in:", *leftover, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
