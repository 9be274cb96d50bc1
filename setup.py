"""ament_python package tcfd_ros; also installable with ``pip install -e .``."""

from glob import glob

from setuptools import find_packages, setup

package_name = "tcfd_ros"

# Node executables for launch_ros ``Node(package="tcfd_ros", executable=...)``; the same names are
# used by ``tcfd_ros.graph`` (the one description of the node graph shared by launch and bringup).
NODE_EXECUTABLES = {
    "camera_segmenter": "tcfd_ros.nodes.camera_segmenter_node:main",
    "lidar_segmenter": "tcfd_ros.nodes.lidar_segmenter_node:main",
    "tracker": "tcfd_ros.nodes.tracker_node:main",
    "recognizer": "tcfd_ros.nodes.recognizer_node:main",
}

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=["tcfd_ros", "tcfd_ros.*", "training", "training.*"]),
    package_data={"training": ["configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/models", glob("models/*.yaml") + glob("models/*.md")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tcfd_ros developers",
    maintainer_email="tcfd-ros@example.org",
    description="LiDAR-camera cross-modal gait recognition (TCFDNet) as a ROS 2 perception pipeline",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": ["tcfd-ros = tcfd_ros.cli:main"]
        + [f"{name} = {target}" for name, target in NODE_EXECUTABLES.items()],
    },
)
