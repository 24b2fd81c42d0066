"""Declare a node's ROS parameters from a psi0 config dataclass.

Each field becomes a typed parameter with its description and range, and the
values come back as the frozen config, validated. Parameters given to the
node that the config does not know are an error, not silently ignored.
"""
from __future__ import annotations

import typing

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from psi0_common.config import ConfigError, did_you_mean, from_mapping, specs

_SCALAR_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                 float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
_ARRAY_TYPES = {bool: ParameterType.PARAMETER_BOOL_ARRAY, int: ParameterType.PARAMETER_INTEGER_ARRAY,
                float: ParameterType.PARAMETER_DOUBLE_ARRAY, str: ParameterType.PARAMETER_STRING_ARRAY}
_EMPTY_ARRAY = {bool: Parameter.Type.BOOL_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                float: Parameter.Type.DOUBLE_ARRAY, str: Parameter.Type.STRING_ARRAY}
_ALWAYS_ALLOWED = {"use_sim_time", "start_type_description_service"}


def _descriptor(spec) -> ParameterDescriptor:
    origin = typing.get_origin(spec.type)
    if origin in (list, tuple):
        item = typing.get_args(spec.type)[0]
        ptype = _ARRAY_TYPES[item]
    else:
        item = spec.type
        ptype = _SCALAR_TYPES[spec.type]
    text = spec.description + (f" One of: {', '.join(map(str, spec.choices))}." if spec.choices else "")
    d = ParameterDescriptor(name=spec.name, type=ptype, description=text, read_only=spec.read_only)
    if (spec.low is not None and spec.high is not None and origin is None and item in (int, float)):
        if item is int:
            d.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high),
                                                         step=0.0)]
    return d


def declare_config(node: Node, cls):
    """Declare every field of `cls` on `node` and return the validated config."""
    values = {}
    for spec in specs(cls):
        default = spec.default
        if isinstance(default, (list, tuple)) and not default:
            default = _EMPTY_ARRAY[typing.get_args(spec.type)[0]]
        try:
            node.declare_parameter(spec.name, default, _descriptor(spec))
        except Exception as exc:  # rclpy raises several types for range/type violations
            raise ConfigError(f"{node.get_name()}: parameter {spec.name!r}: {exc}") from exc
        try:
            value = node.get_parameter(spec.name).value
        except ParameterUninitializedException:  # empty-list default, not overridden
            value = list(spec.default)
        if isinstance(value, tuple) or hasattr(value, "tolist"):
            value = list(value)
        values[spec.name] = value
    # Overrides the node was given (params file, -p) that nothing declared.
    overrides = getattr(node, "_parameter_overrides", {}) or {}
    declared = {s.name for s in specs(cls)}
    for name in overrides:
        if name not in declared and name not in _ALWAYS_ALLOWED and not name.startswith("qos_overrides."):
            raise ConfigError(f"{node.get_name()}: unknown parameter {name!r}{did_you_mean(name, declared)}")
    return from_mapping(cls, values, where=f"{node.get_name()}: ")
