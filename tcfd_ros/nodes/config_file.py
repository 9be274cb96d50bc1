"""``config/crossmodal.yaml``: render it from the node dataclasses, and validate a params file strictly.

The file is in the ROS 2 params-file format (``/**/<node>: ros__parameters: ...``) so launch_ros and
rclpy read it as-is; :func:`validate_params_file` additionally refuses unknown keys and bad values,
which rclpy would silently ignore, so ``tcfd-ros bringup`` fails before starting anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from tcfd_ros.config_io import load_yaml
from tcfd_ros.errors import ConfigError
from tcfd_ros.graph import NODE_NAMES, RECOGNIZER
from tcfd_ros.nodes.node_configs import node_defaults
from tcfd_ros.nodes.params import ParamSpec, config_from_params_file, param_specs

HEADER = """\
# tcfd_ros node graph: every parameter of every node, in the ROS 2 params-file format.
# The single source of configuration: launch/crossmodal.launch.py passes this file to each node and
# `tcfd-ros bringup --config` reads the same file. Keys are /**/<node> so any namespace prefix matches.
# The recognizer's camera_namespaces / lidar_namespaces decide which sensor pipelines exist.
# (read-only) parameters are fixed at start; all others can be changed at run time (ros2 param set).
"""

GLOBAL = """\
/**:
  ros__parameters:
    use_sim_time: false  # true when replaying a bag that publishes /clock
"""


def _yaml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return ".nan" if v != v else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)


def _render_node(name: str, specs: list[ParamSpec], overrides: Mapping[str, Any]) -> str:
    lines = [f"/**/{name}:", "  ros__parameters:"]
    section = ""
    for s in specs:
        parts = s.name.split(".")
        indent = "    "
        if len(parts) == 2:
            if parts[0] != section:
                section = parts[0]
                lines.append(f"    {section}:")
            indent = "      "
        value = overrides.get(s.name, s.default)
        note = s.description
        if s.min is not None or s.max is not None:
            note += f" [{'' if s.min is None else s.min}..{'' if s.max is None else s.max}]"
        if s.read_only:
            note += " (read-only)"
        lines.append(f"{indent}{parts[-1]}: {_yaml_value(value)}  # {note}")
    return "\n".join(lines) + "\n"


def render_params_file(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The full params file with every parameter at its default (or ``overrides[node][key]``)."""
    overrides = overrides or {}
    out = [HEADER, GLOBAL]
    for name, default in node_defaults().items():
        specs = param_specs(default)
        if any(len(s.name.split(".")) > 2 for s in specs):
            raise ConfigError(f"{name}: parameters nested deeper than one level cannot be rendered")
        out.append(_render_node(name, specs, overrides.get(name, {})))
    return "\n".join(out)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def validate_params_file(path: str | Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
                         ) -> dict[str, Any]:
    """Each node's config built strictly from ``path`` (+ ``overrides[node]``); raises ConfigError.

    Entries must be ``/**`` or ``/**/<node>`` for a node of the graph; keys must be that node's
    parameters (``use_sim_time`` allowed everywhere).
    """
    data = load_yaml(path)
    defaults = node_defaults()
    allowed = {"/**"} | {f"/**/{n}" for n in NODE_NAMES}
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown entr(y/ies) {unknown}; expected {sorted(allowed)}")
    common = {}
    if "/**" in data:
        common = _flatten(data["/**"].get("ros__parameters", {}) if isinstance(data["/**"], Mapping) else {})
    configs: dict[str, Any] = {}
    for name in NODE_NAMES:
        entry = data.get(f"/**/{name}", {"ros__parameters": {}})
        if not isinstance(entry, Mapping) or not isinstance(entry.get("ros__parameters"), Mapping):
            raise ConfigError(f"{path}: entry /**/{name} must be a mapping with 'ros__parameters'")
        flat = dict(common)
        flat.update(_flatten(entry["ros__parameters"]))
        flat.update((overrides or {}).get(name, {}))
        configs[name] = config_from_params_file(type(defaults[name]), defaults[name], flat,
                                                f"{path}:/**/{name}")
    if RECOGNIZER not in configs:
        raise ConfigError(f"{path}: no recognizer entry")
    return configs
