"""Launch the tcfd_ros node graph: ``ros2 launch tcfd_ros crossmodal.launch.py [arg:=value ...]``.

The node list comes from ``tcfd_ros.graph`` (the one description shared with ``tcfd-ros bringup``)
and every node gets ``config/crossmodal.yaml`` (or ``config:=``) as its params file, so launch and
bringup run the same graph with the same parameters. Arguments:

- ``config``: params file (default: the installed config/crossmodal.yaml)
- ``namespace``: top-level namespace for the whole graph (default: none)
- ``image_topic``, ``camera_info_topic``, ``points_topic``: sensor inputs, relative to each sensor
  namespace (defaults: image_raw, camera_info, points)
- ``matches_topic``, ``markers_topic``: recognizer outputs (defaults: matches, markers)
- ``backend``: embedding runtime, tensorrt | onnx | torch (default: as in the config file)
- ``model_path``: exported model file (default: as in the config file, i.e. the shipped reference
  model ``models/tcfd_sim.onnx``, found in the installed share directory)
- ``use_sim_time``: follow /clock, for bag replay (default: false); also makes the segmenters'
  sensor subscriptions reliable (large best-effort samples are lost across processes)
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from tcfd_ros.graph import (PACKAGE, RECOGNIZER, REPLAY_OVERRIDES, TopicNames, default_config_path,
                            graph_from_config)

ARGUMENTS = (
    ("config", str(default_config_path()), "ROS 2 params file with every node's parameters"),
    ("namespace", "", "top-level namespace pushed onto the whole graph"),
    ("image_topic", TopicNames.image, "camera image topic, relative to each camera namespace"),
    ("camera_info_topic", TopicNames.camera_info, "CameraInfo topic, relative to each camera namespace"),
    ("points_topic", TopicNames.points, "LiDAR PointCloud2 topic, relative to each LiDAR namespace"),
    ("matches_topic", TopicNames.matches, "recognizer output: tcfd_ros/match v1 JSON"),
    ("markers_topic", TopicNames.markers, "recognizer output: MarkerArray in the LiDAR frame"),
    ("backend", "", "embedding runtime: tensorrt, onnx or torch (empty: the config file's)"),
    ("model_path", "", "exported model file (empty: the config file's, models/tcfd_sim.onnx)"),
    ("use_sim_time", "false", "follow /clock (bag replay)"),
)
BACKENDS = ("", "tensorrt", "onnx", "torch")


def _nodes(context, *args, **kwargs):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    topics = TopicNames(value["image_topic"], value["camera_info_topic"], value["points_topic"],
                        value["matches_topic"], value["markers_topic"])
    graph = graph_from_config(value["config"], value["namespace"], topics)
    sim = value["use_sim_time"].lower() in ("true", "1", "yes")
    actions = []
    for spec in graph.nodes:
        overrides = {"use_sim_time": sim}
        if sim:  # bag replay: reliable sensor inputs, as tcfd-ros bringup --use-sim-time does
            overrides.update(REPLAY_OVERRIDES.get(spec.name, {}))
        if spec.name == RECOGNIZER:
            if value["backend"]:
                overrides["backend"] = value["backend"]
            if value["model_path"]:
                overrides["model_path"] = value["model_path"]
        actions.append(Node(package=PACKAGE, executable=spec.executable, name=spec.name,
                            namespace=spec.namespace, parameters=[value["config"], overrides],
                            remappings=list(spec.remappings), output="screen", emulate_tty=True))
    return actions


def generate_launch_description():
    declared = []
    for name, default, description in ARGUMENTS:
        extra = {"choices": list(BACKENDS)} if name == "backend" else {}
        if name == "use_sim_time":
            extra = {"choices": ["true", "false"]}
        declared.append(DeclareLaunchArgument(name, default_value=default, description=description, **extra))
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
