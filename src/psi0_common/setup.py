from setuptools import find_packages, setup

package_name = "psi0_common"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=True,
    description="ROS-free core shared by every psi0 package.",
    license="Apache-2.0",
    tests_require=["pytest"],
)
