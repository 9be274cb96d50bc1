"""The algorithms, schemas and training know nothing of ROS: only ``tcfd_ros/nodes`` (and the replay and CLI
that drive the graph, and the message conversions) import rclpy, ROS message packages or the nodes.

Why: STYLE.md's split (yolo_ros): a plain module can be tested, trained with and re-run offline without a ROS
installation, and a ROS wiring change cannot break the recognizer's logic. A schema that lived in
``nodes/`` made the perception code import the ROS package."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the packages and modules that must stay ROS-free
ROS_FREE = ("tcfd_ros/perception", "tcfd_ros/geometry", "tcfd_ros/model", "tcfd_ros/inference",
            "tcfd_ros/sim", "training", "tcfd_ros/messages.py", "tcfd_ros/track_messages.py",
            "tcfd_ros/distance.py", "tcfd_ros/open_set.py",
            "tcfd_ros/stream_wait.py", "tcfd_ros/gallery.py", "tcfd_ros/config_io.py")
#: what they may not import (a module or any of its submodules)
ROS_MODULES = ("rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "std_srvs", "geometry_msgs",
               "visualization_msgs", "diagnostic_msgs", "rosgraph_msgs", "lifecycle_msgs", "tf2_msgs",
               "tf2_ros", "builtin_interfaces", "launch", "launch_ros", "tcfd_ros.nodes")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, at any depth (lazy imports inside functions count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def ros_imports(path: Path, root: Path = REPO) -> list[str]:
    return [f"{path.relative_to(root)}:{line} imports {m}" for line, m in imported_modules(path)
            if any(m == r or m.startswith(r + ".") for r in ROS_MODULES)]


def ros_free_files() -> list[Path]:
    files = []
    for entry in ROS_FREE:
        p = REPO / entry
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


def test_algorithms_schemas_and_training_import_no_ros() -> None:
    files = ros_free_files()
    assert len(files) > 50 and all(f.is_file() for f in files)
    offenders = [line for f in files for line in ros_imports(f)]
    assert offenders == []


def test_the_check_finds_a_ros_import(tmp_path: Path) -> None:
    p = tmp_path / "probe.py"
    p.write_text("import numpy\nfrom tcfd_ros import messages\n\n\ndef f():\n"
                 "    from tcfd_ros.nodes.base import TcfdNode\n    import rclpy.node\n")
    assert ros_imports(p, tmp_path) == ["probe.py:6 imports tcfd_ros.nodes.base",
                                        "probe.py:7 imports rclpy.node"]
