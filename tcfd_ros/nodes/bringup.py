"""Run the whole node graph in one process: the nodes of ``tcfd_ros.graph`` on a MultiThreadedExecutor.

The same graph description and the same params file as ``launch/crossmodal.launch.py``: each node gets
``--ros-args --params-file <config>`` plus its remappings, exactly what launch_ros passes, so rcl applies
the file identically. ``--param [ns.]node.key=value`` overrides become typed parameter overrides of
the named node (in every namespace, or only in ``ns``). The file and the overrides are validated
strictly before any node starts.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import rclpy
import yaml
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from tcfd_ros.errors import ConfigError
from tcfd_ros.graph import NODE_NAMES, GraphSpec, NodeSpec, TopicNames, build_graph
from tcfd_ros.nodes.config_file import validate_params_file
from tcfd_ros.nodes.node_configs import node_defaults
from tcfd_ros.nodes.params import param_specs

log = logging.getLogger(__name__)

# Executor threads: one per node keeps a slow recognizer from starving the segmenters' callbacks.
DEFAULT_THREADS = 0  # 0 = one per node


@dataclass(frozen=True)
class ParamOverride:
    """``[namespace.]node.key=value`` from the command line."""

    namespace: str          # "" = every namespace
    node: str
    key: str
    value: Any

    def applies_to(self, spec: NodeSpec) -> bool:
        return spec.name == self.node and (not self.namespace or spec.sensor == self.namespace
                                           or spec.namespace.strip("/").endswith(self.namespace))


def parse_param(text: str) -> ParamOverride:
    """Parse ``[ns.]node.key=value``; the value is YAML (``true``, ``0.4``, ``[a, b]``, ``path``)."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--param {text!r}: expected [namespace.]node.key=value, e.g. recognizer.backend=onnx")
    parts = name.split(".")
    idx = next((i for i, p in enumerate(parts) if p in NODE_NAMES), None)
    if idx is None or idx == len(parts) - 1:
        raise ConfigError(f"--param {text!r}: no node name among {list(NODE_NAMES)} followed by a key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--param {text!r}: value is not valid YAML ({e})") from e
    return ParamOverride(".".join(parts[:idx]).replace(".", "/"), parts[idx], ".".join(parts[idx + 1:]), value)


def _typed(node: str, key: str, value: Any) -> Any:
    """Coerce a command-line value to the parameter's ROS type (an int where a double is declared)."""
    spec = {s.name: s for s in param_specs(node_defaults()[node])}.get(key)
    if spec is None:
        return value
    if spec.ptype == Parameter.Type.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if spec.ptype == Parameter.Type.DOUBLE and value is None and spec.optional:
        return math.nan
    if spec.ptype == Parameter.Type.STRING and value is None and spec.optional:
        return ""
    if spec.ptype == Parameter.Type.DOUBLE_ARRAY and isinstance(value, list):
        return [float(v) for v in value]
    if spec.ptype == Parameter.Type.STRING and not isinstance(value, str):
        return str(value)
    return value


def node_arguments(spec: NodeSpec, config: Path) -> list[str]:
    """What launch_ros gives the node: the params file and the remappings."""
    args = ["--ros-args", "--params-file", str(config)]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    return args


def plan(config: Path, overrides: Sequence[ParamOverride], namespace: str = "",
         topics: TopicNames = TopicNames()) -> tuple[GraphSpec, dict[str, Any]]:
    """Validate the file + overrides and build the graph (sensor namespaces from the recognizer config)."""
    per_node: dict[str, dict[str, Any]] = {}
    for o in overrides:
        per_node.setdefault(o.node, {})[o.key] = _typed(o.node, o.key, o.value)
    configs = validate_params_file(config, per_node)
    rec = configs["recognizer"]
    graph = build_graph(rec.camera_namespaces, rec.lidar_namespaces, namespace, topics)
    return graph, configs


# Executable -> (module, class); imported only when the graph has that node.
NODE_CLASSES = {
    "camera_segmenter": ("tcfd_ros.nodes.camera_segmenter_node", "CameraSegmenterNode"),
    "lidar_segmenter": ("tcfd_ros.nodes.lidar_segmenter_node", "LidarSegmenterNode"),
    "tracker": ("tcfd_ros.nodes.tracker_node", "TrackerNode"),
    "recognizer": ("tcfd_ros.nodes.recognizer_node", "RecognizerNode"),
}


SENSOR_EXECUTABLES = ("camera_segmenter", "lidar_segmenter")


def node_class(executable: str) -> Callable[..., Node]:
    module, cls = NODE_CLASSES[executable]
    return getattr(importlib.import_module(module), cls)


def create_nodes(graph: GraphSpec, config: Path, overrides: Sequence[ParamOverride],
                 use_sim_time: bool = False, context: Any = None) -> list[Node]:
    """Instantiate every node of ``graph`` (rclpy must be initialised); on a failure the built ones are destroyed."""
    nodes: list[Node] = []
    # Sensor-facing nodes last: their input subscriptions appear only when the rest (the recognizer
    # loading its model takes seconds) exists, so a player waiting for subscribers waits for the graph.
    order = sorted(graph.nodes, key=lambda s: s.executable in SENSOR_EXECUTABLES)
    try:
        for spec in order:
            params = [Parameter(o.key, value=_typed(o.node, o.key, o.value))
                      for o in overrides if o.applies_to(spec)]
            if use_sim_time:
                params.append(Parameter("use_sim_time", value=True))
            kwargs: dict[str, Any] = dict(namespace=spec.namespace, cli_args=node_arguments(spec, config),
                                          use_global_arguments=False, parameter_overrides=params,
                                          context=context)
            if spec.executable == "tracker":
                kwargs["name"] = spec.name
            nodes.append(node_class(spec.executable)(**kwargs))
            log.info("started %s", spec.fully_qualified_name)
    except BaseException:
        for n in nodes:
            n.destroy_node()
        raise
    return nodes


def run(config: Path, overrides: Sequence[ParamOverride], use_sim_time: bool = False, namespace: str = "",
        topics: TopicNames = TopicNames(), threads: int = DEFAULT_THREADS,
        on_ready: Callable[[GraphSpec], None] | None = None) -> int:
    """Validate, start every node, spin until SIGINT/SIGTERM, shut down cleanly. Returns the exit code."""
    graph, _ = plan(config, overrides, namespace, topics)
    try:
        with rclpy.init(args=[]):
            nodes = create_nodes(graph, config, overrides, use_sim_time)
            executor = MultiThreadedExecutor(num_threads=threads or len(nodes))
            try:
                for n in nodes:
                    executor.add_node(n)
                if on_ready is not None:
                    on_ready(graph)
                executor.spin()
            finally:
                executor.shutdown()
                for n in nodes:
                    n.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0
