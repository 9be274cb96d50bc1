"""launch/crossmodal.launch.py and ``tcfd-ros bringup`` run the same node list from the same config.

The launch stack is not installable here, so the launch file is also executed against minimal
stand-ins for ``launch``/``launch_ros`` that record what it asks for (its real code path, our fake
recorder); where launch_ros is importable the real ``generate_launch_description()`` runs too.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from tcfd_ros.graph import TopicNames
from tcfd_ros.nodes.bringup import node_arguments, parse_param, plan, process_command

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "crossmodal.launch.py"
CONFIG = ROOT / "config" / "crossmodal.yaml"


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _load_with_stand_ins(monkeypatch):
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda entities: list(entities)
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = _Recorder
    actions.OpaqueFunction = _Recorder
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = _Recorder
    for name, mod in {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
                      "launch_ros": launch_ros, "launch_ros.actions": ros_actions}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("crossmodal_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_nodes(monkeypatch, **args):
    module = _load_with_stand_ins(monkeypatch)
    entities = module.generate_launch_description()
    declared = {e.args[0]: e.kwargs for e in entities if "default_value" in e.kwargs}
    context = {name: kw["default_value"] for name, kw in declared.items()}
    context.update(args)
    opaque = [e for e in entities if "function" in e.kwargs]
    assert len(opaque) == 1
    return declared, opaque[0].kwargs["function"](context)


def test_launch_arguments_cover_config_namespace_topics_backend_sim_time(monkeypatch):
    declared, _ = _launch_nodes(monkeypatch)
    for name in ("config", "namespace", "image_topic", "camera_info_topic", "points_topic", "matches_topic",
                 "markers_topic", "backend", "model_path", "use_sim_time"):
        assert name in declared and declared[name]["description"]
    assert Path(declared["config"]["default_value"]).resolve() == CONFIG.resolve()
    assert "torch" in declared["backend"]["choices"]


@pytest.mark.parametrize("sensors,namespace,topics", [
    (None, "", TopicNames()),
    ((["cam_a", "cam_b"], ["lidar_a", "lidar_b"]), "site",
     TopicNames(image="image_rect", points="/velodyne")),
])
def test_launch_and_bringup_run_the_same_nodes(monkeypatch, tmp_path, sensors, namespace, topics):
    config = CONFIG
    if sensors is not None:
        data = yaml.safe_load(CONFIG.read_text())
        data["/**/recognizer"]["ros__parameters"]["camera_namespaces"] = sensors[0]
        data["/**/recognizer"]["ros__parameters"]["lidar_namespaces"] = sensors[1]
        config = tmp_path / "multi.yaml"
        config.write_text(yaml.safe_dump(data))
    _, nodes = _launch_nodes(monkeypatch, config=str(config), namespace=namespace, image_topic=topics.image,
                             points_topic=topics.points, use_sim_time="true", backend="torch")
    launched = [(n.kwargs["executable"], n.kwargs["name"], n.kwargs["namespace"],
                 tuple(n.kwargs["remappings"])) for n in nodes]
    graph, _ = plan(config, [], namespace, topics)
    brought_up = [(s.executable, s.name, s.namespace, s.remappings) for s in graph.nodes]
    assert launched == brought_up
    for n, spec in zip(nodes, graph.nodes):
        file_arg, overrides = n.kwargs["parameters"]
        assert file_arg == str(config) and overrides["use_sim_time"] is True
        assert n.kwargs["package"] == "tcfd_ros"
        # bringup hands rcl the same file and remappings that launch_ros would
        args = node_arguments(spec, config)
        assert args[:3] == ["--ros-args", "--params-file", str(config)]
        assert [a for a in args[3:] if a != "-r"] == [f"{s}:={d}" for s, d in spec.remappings]
    assert [n.kwargs["parameters"][1].get("backend") for n in nodes].count("torch") == 1
    reliable = {n.kwargs["name"] for n in nodes
                if n.kwargs["parameters"][1].get("input_reliability") == "reliable"}
    # sim time = replay, as bringup does
    assert reliable == {"camera_segmenter", "camera_tracker", "lidar_segmenter"}
    # bringup --processes runs each node with the command line launch_ros would build
    for n, spec in zip(nodes, graph.nodes):
        cmd = process_command(spec, config, tmp_path / "overrides.yaml")
        assert cmd[2] == f"tcfd_ros.nodes.{n.kwargs['executable']}_node"
        assert f"__node:={n.kwargs['name']}" in cmd and f"__ns:={n.kwargs['namespace']}" in cmd
        assert cmd.index(str(config)) < cmd.index(str(tmp_path / "overrides.yaml"))
    if sensors is not None:
        assert len(nodes) == 9


def test_bringup_param_overrides_are_for_the_named_node_only():
    graph, _ = plan(CONFIG, [])
    o = parse_param("lidar.lidar_tracker.tracker.max_age_s=3")
    assert [s.fully_qualified_name for s in graph.nodes if o.applies_to(s)] == ["/lidar/lidar_tracker"]
    o = parse_param("camera_segmenter.segmenter.min_area_px=50")
    assert [s.fully_qualified_name for s in graph.nodes if o.applies_to(s)] == ["/camera/camera_segmenter"]


def test_real_launch_description_where_launch_ros_is_installed():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installable beside the pip ROS 2 wheels here; the stand-in test above "
                    "runs the launch file's code instead")
    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location("crossmodal_launch_real", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.generate_launch_description(), LaunchDescription)
