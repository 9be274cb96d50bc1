"""ROS parameters built from the project's frozen config dataclasses, one way for every node.

Every (nested) dataclass field becomes one parameter with a dotted name (``segmenter.min_area_px``) and
a ``ParameterDescriptor`` built from the field's own metadata, written by ``config_io.param``: the
description, the inclusive range (``min``/``max``) and ``read_only`` (what cannot change without
rebuilding the node: model path, backend, topics). A field without a description is an error.
A candidate change is validated by building the whole dataclass with ``config_io.from_dict`` (types,
ranges, the dataclass's own ``validate()``); a rejection carries that error as its reason.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from tcfd_ros.config_io import from_dict
from tcfd_ros.errors import ConfigError, TcfdError

T = TypeVar("T")


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter derived from a dataclass field."""

    name: str                   # dotted
    default: Any                # ROS-typed default (lists, "" for None strings)
    ptype: Parameter.Type
    description: str
    read_only: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False      # the dataclass accepts None, encoded as "" (strings) or NaN (numbers)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _ros_type(tp: Any, where: str) -> tuple[Parameter.Type, tuple[str, ...]]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is bool:
        return Parameter.Type.BOOL, ()
    if tp is int:
        return Parameter.Type.INTEGER, ()
    if tp is float:
        return Parameter.Type.DOUBLE, ()
    if tp is str:
        return Parameter.Type.STRING, ()
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return Parameter.Type.STRING, tuple(args)
    if origin in (tuple, list) and args:
        elem = args[0]
        if all(a in (elem, Ellipsis) for a in args):
            table = {float: Parameter.Type.DOUBLE_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                     str: Parameter.Type.STRING_ARRAY, bool: Parameter.Type.BOOL_ARRAY}
            if elem in table:
                return table[elem], ()
    raise ConfigError(f"{where}: field type {tp!r} cannot be a ROS parameter (use bool, int, float, str, "
                      "Literal[str] or a homogeneous tuple/list of those)")


def param_specs(cfg: Any, prefix: str = "", read_only: Sequence[str] = ()) -> list[ParamSpec]:
    """Parameter specs for every leaf field of dataclass instance ``cfg`` (values are its defaults)."""
    hints = typing.get_type_hints(type(cfg))
    out: list[ParamSpec] = []
    for f in dataclasses.fields(cfg):
        name = f"{prefix}{f.name}"
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out += param_specs(value, name + ".", read_only)
            continue
        desc = f.metadata.get("description")
        if not desc:
            raise ConfigError(f"{name}: {type(cfg).__name__}.{f.name} has no description; declare it with "
                              "tcfd_ros.config_io.param(default, description, ...)")
        tp, optional = _strip_optional(hints[f.name])
        ptype, choices = _ros_type(tp, name)
        if optional and ptype not in (Parameter.Type.STRING, Parameter.Type.DOUBLE):
            raise ConfigError(f"{name}: optional {tp!r} cannot be a ROS parameter (only str or float)")
        if value is None:
            value = "" if ptype == Parameter.Type.STRING else math.nan
        elif isinstance(value, tuple):
            value = list(value)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if choices:
            desc += f" (one of {', '.join(choices)})"
        if optional:
            desc += " (empty/NaN = none)"
        out.append(ParamSpec(name, value, ptype, desc,
                             read_only=bool(f.metadata.get("read_only")) or name in read_only,
                             min=lo, max=hi, choices=choices, optional=optional))
    return out


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(name=spec.name, type=int(spec.ptype), description=spec.description,
                            read_only=spec.read_only)
    if spec.choices:
        d.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.ptype == Parameter.Type.INTEGER and (spec.min is not None or spec.max is not None):
        d.integer_range = [IntegerRange(from_value=int(spec.min if spec.min is not None else -2**62),
                                        to_value=int(spec.max if spec.max is not None else 2**62), step=1)]
    elif spec.ptype == Parameter.Type.DOUBLE and (spec.min is not None or spec.max is not None):
        d.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min if spec.min is not None else -1e300),
            to_value=float(spec.max if spec.max is not None else 1e300), step=0.0)]
    return d


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        parts = key.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


def _from_ros(spec: ParamSpec, value: Any) -> Any:
    if spec.optional and (value == "" or (isinstance(value, float) and math.isnan(value))):
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
        return list(value)
    return value


def build_config(cls: type[T], specs: Sequence[ParamSpec], values: Mapping[str, Any], where: str) -> T:
    """The dataclass ``cls`` from ROS parameter values; raises ConfigError naming the bad key."""
    by_name = {s.name: s for s in specs}
    flat = {k: _from_ros(by_name[k], v) for k, v in values.items() if k in by_name}
    return from_dict(cls, _nest(flat), where=where)


class ParameterBinding:
    """Declares a node's parameters from its config dataclass and keeps ``config`` current.

    ``on_change(new_config, changed_names)`` runs after an accepted change (post-set callback); a
    change whose resulting config does not validate is rejected with the error as reason.
    """

    def __init__(self, node: Node, default: T, read_only: Sequence[str] = (),
                 on_change: Callable[[Any, set[str]], None] | None = None) -> None:
        self._node = node
        self._cls = type(default)
        self.specs = param_specs(default, read_only=read_only)
        self._on_change = on_change
        for s in self.specs:
            if not node.has_parameter(s.name):  # a subclass may declare one ahead (e.g. to pick defaults)
                node.declare_parameter(s.name, s.default, descriptor(s))
        self.values: dict[str, Any] = {s.name: node.get_parameter(s.name).value for s in self.specs}
        self.config = build_config(self._cls, self.specs, self.values, f"{node.get_fully_qualified_name()}")
        node.add_on_set_parameters_callback(self._validate)
        node.add_post_set_parameters_callback(self._apply)

    def _candidate(self, params: Sequence[Parameter]) -> dict[str, Any]:
        values = dict(self.values)
        for p in params:
            if p.name in values:
                values[p.name] = p.value
        return values

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        mine = [p for p in params if p.name in self.values]
        if not mine:
            return SetParametersResult(successful=True)
        try:
            build_config(self._cls, self.specs, self._candidate(mine), self._node.get_fully_qualified_name())
        except (TcfdError, TypeError, ValueError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        mine = [p for p in params if p.name in self.values]
        if not mine:
            return
        self.values = self._candidate(mine)
        self.config = build_config(self._cls, self.specs, self.values, self._node.get_fully_qualified_name())
        if self._on_change is not None:
            self._on_change(self.config, {p.name for p in mine})


def config_from_params_file(cls: type[T], default: T, flat: Mapping[str, Any], where: str,
                            read_only: Sequence[str] = ()) -> T:
    """Validate one node's entry of a params file without ROS (bringup checks the file before starting).

    ``flat`` holds dotted keys; keys that are no field of ``cls`` (other than ROS's own
    ``use_sim_time``) raise ConfigError, which rclpy itself would silently ignore.
    """
    specs = param_specs(default, read_only=read_only)
    names = {s.name for s in specs}
    unknown = sorted(k for k in flat if k not in names and k not in ROS_BUILTIN_PARAMETERS)
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(names))}")
    by_name = {s.name: s for s in specs}
    for k, v in flat.items():
        spec = by_name.get(k)
        if spec is None:
            continue
        ints = [v] if spec.ptype == Parameter.Type.DOUBLE else (
            list(v) if spec.ptype == Parameter.Type.DOUBLE_ARRAY and isinstance(v, list) else [])
        if any(isinstance(x, int) and not isinstance(x, bool) for x in ints):
            raise ConfigError(f"{where}.{k} = {v!r}: ROS parameters are typed and this one is a double; "
                              f"write it with a decimal point (e.g. {float(ints[0])})")
    values = {s.name: s.default for s in specs}
    values.update({k: v for k, v in flat.items() if k in names})
    return build_config(cls, specs, values, where)


ROS_BUILTIN_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})
