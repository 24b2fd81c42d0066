from glob import glob

from setuptools import find_packages, setup

package_name = "psi0_policy"

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
    description="Camera node, Psi0 VLA policy node with real-time chunking, and the AMO lower-body bridge that owns the G1's low-level commands.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "amo_bridge_node = psi0_policy.amo_bridge_node:main",
            "camera_node = psi0_policy.camera_node:main",
            "policy_node = psi0_policy.policy_node:main",
        ],
    },
)
