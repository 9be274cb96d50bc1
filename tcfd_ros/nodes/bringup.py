"""Run the whole node graph in one process: the nodes of ``tcfd_ros.graph`` on one executor.

Single-threaded by default: each node does its work on its own worker thread.

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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import rclpy
import yaml
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from tcfd_ros.child_process import die_with_parent
from tcfd_ros.errors import ConfigError
from tcfd_ros.graph import NODE_NAMES, GraphSpec, NodeSpec, TopicNames, build_graph, replay_override_params
from tcfd_ros.nodes.base import spin_until_shutdown
from tcfd_ros.nodes.config_file import validate_params_file
from tcfd_ros.nodes.node_configs import node_defaults
from tcfd_ros.nodes.params import ROS_BUILTIN_PARAMETERS, param_specs
from tcfd_ros.wording import did_you_mean

log = logging.getLogger(__name__)

# Executor threads. Every node already does its work on its own worker thread (nodes/base.py), so the
# executor only hands messages over: one thread does that. rclpy's MultiThreadedExecutor was measured
# to spin hot on idle cores (a ready entity of a busy callback group wakes it again and again), which
# starved the workers: on 2 quiet cores the one-process graph processed 69 of 180 images (RESULTS.md).
DEFAULT_THREADS = 1  # 1 = SingleThreadedExecutor; N > 1 = MultiThreadedExecutor(N); 0 = one per node


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


def replay_defaults(use_sim_time: bool) -> list[str]:
    """``--param`` texts implied by ``use_sim_time`` (graph.REPLAY_OVERRIDES), placed before the user's."""
    return replay_override_params() if use_sim_time else []


def parse_param(text: str) -> ParamOverride:
    """Parse ``[ns.]node.key=value``; the value is YAML (``true``, ``0.4``, ``[a, b]``, ``path``)."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ConfigError(f"--param {text!r}: expected [namespace.]node.key=value, "
                          "e.g. recognizer.backend=onnx")
    parts = name.split(".")
    idx = next((i for i, p in enumerate(parts) if p in NODE_NAMES), None)
    if idx is None or idx == len(parts) - 1:
        hint = next((h for h in (did_you_mean(p, NODE_NAMES) for p in parts[:-1]) if h), "")
        raise ConfigError(f"--param {text!r}: no node name among {', '.join(NODE_NAMES)} followed by a "
                          f"key{hint}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--param {text!r}: value is not valid YAML ({e})") from e
    namespace = "/".join(parts[:idx])
    return ParamOverride(namespace, parts[idx], ".".join(parts[idx + 1:]), value)


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
        known = [s.name for s in param_specs(node_defaults()[o.node])]
        if o.key not in known and o.key not in ROS_BUILTIN_PARAMETERS:
            raise ConfigError(f"--param {o.node}.{o.key}: {o.node} has no parameter {o.key!r}"
                              f"{did_you_mean(o.key, known)}")
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
    """Instantiate every node of ``graph`` (rclpy initialised); on a failure the built ones are destroyed."""
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
            executor = (SingleThreadedExecutor() if threads == 1
                        else MultiThreadedExecutor(num_threads=threads or len(nodes)))
            try:
                for n in nodes:
                    executor.add_node(n)
                if on_ready is not None:
                    on_ready(graph)
                spin_until_shutdown(executor.spin)
            finally:
                executor.shutdown()
                for n in nodes:
                    n.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


# ---- one process per node (what launch does) ------------------------------------------------------
PROCESS_START_TIMEOUT_S = 120.0   # a node process must appear in the ROS graph within this
PROCESS_STOP_TIMEOUT_S = 15.0     # after SIGINT, before SIGKILL


def overrides_params_file(graph: GraphSpec, overrides: Sequence[ParamOverride], use_sim_time: bool,
                          path: Path) -> Path:
    """A second params file holding the overrides under each node's fully qualified name.

    Passed after the main file it wins over the main file's ``/**/<node>`` entries (an unqualified
    ``-p`` would not: rcl prefers the more specific node entry of a file), exactly like launch_ros'
    per-node parameter dicts.
    """
    data: dict[str, Any] = {}
    for spec in graph.nodes:
        params: dict[str, Any] = {}
        for o in overrides:
            if o.applies_to(spec):
                d = params
                *parents, leaf = o.key.split(".")
                for part in parents:
                    d = d.setdefault(part, {})
                d[leaf] = _typed(o.node, o.key, o.value)
        if use_sim_time:
            params["use_sim_time"] = True
        if params:
            data[spec.fully_qualified_name] = {"ros__parameters": params}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def process_command(spec: NodeSpec, config: Path, overrides_file: Path | None = None) -> list[str]:
    """The command line of ``spec`` as its own process: the node module's ``main`` with ROS arguments."""
    cmd = [sys.executable, "-m", NODE_CLASSES[spec.executable][0], "--ros-args",
           "-r", f"__node:={spec.name}", "-r", f"__ns:={spec.namespace}", "--params-file", str(config)]
    if overrides_file is not None:
        cmd += ["--params-file", str(overrides_file)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def run_processes(config: Path, overrides: Sequence[ParamOverride], use_sim_time: bool = False,
                  namespace: str = "", topics: TopicNames = TopicNames(),
                  on_ready: Callable[[GraphSpec], None] | None = None) -> int:
    """One process per node, supervised: back-end nodes first, sensor-facing nodes once those are up.

    SIGINT/SIGTERM stop every child with SIGINT (clean rclpy shutdown). A child that exits on its
    own stops the graph; the exit code is then the child's (2 for a config or model error).
    """
    graph, _ = plan(config, overrides, namespace, topics)
    order = sorted(graph.nodes, key=lambda s: s.executable in SENSOR_EXECUTABLES)
    backend = [s for s in order if s.executable not in SENSOR_EXECUTABLES]
    procs: list[tuple[NodeSpec, subprocess.Popen]] = []
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    tmp = tempfile.TemporaryDirectory(prefix="tcfd_bringup_")
    extra = overrides_params_file(graph, overrides, use_sim_time, Path(tmp.name) / "overrides.yaml")
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    failed: tuple[NodeSpec, int] | None = None
    try:
        with rclpy.init(args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO):
            watcher = rclpy.create_node("tcfd_bringup_supervisor")

            def start(specs: Sequence[NodeSpec]) -> None:
                for spec in specs:
                    procs.append((spec, subprocess.Popen(process_command(spec, config, extra),
                                                         stdin=subprocess.DEVNULL,
                                                         preexec_fn=die_with_parent)))

            def up(specs: Sequence[NodeSpec]) -> bool:
                names = {f"{ns.rstrip('/')}/{n}" for n, ns in watcher.get_node_names_and_namespaces()}
                return all(s.fully_qualified_name in names for s in specs)

            start(backend)
            deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
            while not up(backend) and not stopping.is_set() and time.monotonic() < deadline:
                if any(p.poll() is not None for _, p in procs):
                    break
                time.sleep(0.1)
            if not stopping.is_set() and all(p.poll() is None for _, p in procs):
                start([s for s in order if s.executable in SENSOR_EXECUTABLES])
                if on_ready is not None:
                    on_ready(graph)
            watcher.destroy_node()
        while not stopping.is_set():
            dead = [(s, p.returncode) for s, p in procs if p.poll() is not None]
            if dead:
                failed = dead[0]
                log.error("%s exited with code %s; stopping the graph",
                          failed[0].fully_qualified_name, failed[1])
                break
            time.sleep(0.2)
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + PROCESS_STOP_TIMEOUT_S
        for spec, p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop after SIGINT; killing it", spec.fully_qualified_name)
                p.kill()
                p.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
        tmp.cleanup()
    if failed is not None:
        return failed[1] if failed[1] else 2
    return 0
