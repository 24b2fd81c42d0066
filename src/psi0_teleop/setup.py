from glob import glob

from setuptools import find_packages, setup

package_name = "psi0_teleop"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={package_name: ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    description="PICO trackers and MANUS gloves to multi-target IK on the G1, publishing the same whole-body action as the policy; episode recorder.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "teleop_node = psi0_teleop.teleop_node:main",
            "operator_driver = psi0_teleop.operator_node:main",
            "episode_recorder = psi0_teleop.recorder_node:main",
            "scripted_operator = psi0_teleop.demo.scripted_operator_node:main",
        ],
    },
)
