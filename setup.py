"""ament_python package tcfd_ros; also installable with ``pip install -e .``.

colcon (``colcon build``) installs the package, the ament resource marker, ``package.xml``, the launch
files, the parameter files and the model descriptions under ``share/tcfd_ros``, and the console scripts
under ``lib/tcfd_ros`` (setup.cfg), where ``ros2 run`` and ``launch_ros`` look for them.
"""

from pathlib import Path

from setuptools import find_packages, setup

package_name = "tcfd_ros"
HERE = Path(__file__).resolve().parent

# Node executables for launch_ros ``Node(package="tcfd_ros", executable=...)``; the same names are
# used by ``tcfd_ros.graph`` (the one description of the node graph shared by launch and bringup).
NODE_EXECUTABLES = {
    "camera_segmenter": "tcfd_ros.nodes.camera_segmenter_node:main",
    "lidar_segmenter": "tcfd_ros.nodes.lidar_segmenter_node:main",
    "tracker": "tcfd_ros.nodes.tracker_node:main",
    "recognizer": "tcfd_ros.nodes.recognizer_node:main",
}

# Files installed to share/tcfd_ros/<folder>, sub-folders kept: text files and the committed reference
# model models/tcfd_sim.onnx (the recognizer's default). Other generated weights, ONNX/TensorRT files and
# caches under models/ stay out (they are git-ignored and written at run time).
SHARE_PATTERNS = {
    "launch": ("*.launch.py",),
    "config": ("*.yaml", "*.json", "*.rviz"),     # params files, Foxglove layout, RViz config
    "models": ("*.yaml", "*.md", "*.json", "tcfd_sim.onnx"),  # + the shipped reference model
}


def share_data_files() -> list[tuple[str, list[str]]]:
    """``data_files`` entries for every SHARE_PATTERNS file, one entry per destination folder."""
    by_dir: dict[str, list[str]] = {}
    for folder, patterns in SHARE_PATTERNS.items():
        for pattern in patterns:
            for path in sorted((HERE / folder).rglob(pattern)):
                rel = path.relative_to(HERE)
                if "cache" in rel.parts:
                    continue
                by_dir.setdefault(f"share/{package_name}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return sorted(by_dir.items())


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=["tcfd_ros", "tcfd_ros.*", "training", "training.*"]),
    package_data={"training": ["configs/*.yaml", "configs/**/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        *share_data_files(),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tcfd_ros developers",
    maintainer_email="tcfd-ros@example.org",
    description="LiDAR-camera cross-modal gait recognition (TCFDNet) as a ROS 2 perception pipeline",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["tcfd-ros = tcfd_ros.cli:main"]
        + [f"{name} = {target}" for name, target in NODE_EXECUTABLES.items()],
    },
)
