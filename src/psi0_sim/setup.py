from glob import glob

from setuptools import find_packages, setup

package_name = "psi0_sim"

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
    description="MuJoCo simulated Unitree G1 with Dex3 hands and head camera that speaks the robot's own unitree_hg topics.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_node = psi0_sim.sim_node:main",
        ],
    },
)
