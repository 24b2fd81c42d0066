from glob import glob

from setuptools import find_packages, setup

package_name = "psi0_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config/profiles", glob("config/profiles/*.yaml")),
    ],
    install_requires=["setuptools", "pyyaml"],
    zip_safe=True,
    description="psi0 launch files, profiles and the psi0 command.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "psi0 = psi0_bringup.cli:main",
            "graph_monitor = psi0_bringup.graph_monitor_node:main",
            "episode_runner = psi0_bringup.episode_runner_node:main",
        ],
    },
)
