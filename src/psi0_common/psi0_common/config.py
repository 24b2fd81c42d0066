"""Typed, validated configs: frozen dataclasses whose fields carry their docs.

Every node declares its ROS parameters from one of these (psi0_common.rosutil
.params), the profile runner checks profile YAML against them before any
process starts, and the docs tables are generated from them. A field is made
with `param(default, "description", low=..., high=..., choices=...)`.
"""
from __future__ import annotations

import difflib
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A parameter or profile value that cannot be used; the message says which and why."""


def param(default: Any, description: str, *, low: float | None = None, high: float | None = None,
          choices: tuple | None = None, read_only: bool = True):
    meta = {"description": description, "low": low, "high": high, "choices": choices, "read_only": read_only}
    if isinstance(default, list):
        return field(default_factory=lambda d=tuple(default): list(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: Any
    default: Any
    description: str
    low: float | None
    high: float | None
    choices: tuple | None
    read_only: bool


def specs(cls) -> list[FieldSpec]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        m = f.metadata
        out.append(FieldSpec(f.name, hints[f.name], default, m.get("description", ""), m.get("low"),
                             m.get("high"), m.get("choices"), m.get("read_only", True)))
    return out


def did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(spec: FieldSpec, value: Any, where: str) -> Any:
    t = spec.type
    origin = typing.get_origin(t)
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(t) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}{spec.name}: expected a list, got {value!r}")
        return [_coerce_scalar(item_type, v, f"{where}{spec.name}[{i}]") for i, v in enumerate(value)]
    return _coerce_scalar(t, value, f"{where}{spec.name}")


def _coerce_scalar(t: Any, value: Any, label: str) -> Any:
    if t is bool:
        if isinstance(value, bool):
            return value
    elif t is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif t is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif t is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{label}: expected {t.__name__}, got {type(value).__name__} {value!r}")


def check_value(spec: FieldSpec, value: Any, where: str = "") -> None:
    items = value if isinstance(value, list) else [value]
    for v in items:
        if spec.choices is not None and v not in spec.choices:
            raise ConfigError(f"{where}{spec.name}: {v!r} is not one of {list(spec.choices)}"
                              + (did_you_mean(v, spec.choices) if isinstance(v, str) else ""))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v:  # NaN
                raise ConfigError(f"{where}{spec.name}: NaN is not allowed")
            if spec.low is not None and v < spec.low:
                raise ConfigError(f"{where}{spec.name}: {v} is below the minimum {spec.low}")
            if spec.high is not None and v > spec.high:
                raise ConfigError(f"{where}{spec.name}: {v} is above the maximum {spec.high}")


def from_mapping(cls, values: dict[str, Any], where: str = ""):
    """Build `cls` from a mapping, rejecting unknown keys, wrong types and out-of-range values."""
    by_name = {s.name: s for s in specs(cls)}
    unknown = [k for k in values if k not in by_name]
    if unknown:
        k = unknown[0]
        raise ConfigError(f"{where}unknown parameter {k!r}{did_you_mean(k, by_name)}; "
                          f"known: {', '.join(sorted(by_name))}")
    kwargs = {}
    for name, value in values.items():
        spec = by_name[name]
        coerced = _coerce(spec, value, where)
        check_value(spec, coerced, where)
        kwargs[name] = coerced
    return cls(**kwargs)


def validate(cfg) -> None:
    """Check every field of a built config; call from __post_init__."""
    for spec in specs(type(cfg)):
        value = getattr(cfg, spec.name)
        check_value(spec, _coerce(spec, value, ""), f"{type(cfg).__name__}.")


def markdown_table(cls) -> str:
    """Parameter table for docs: name, type, default, range, description."""
    rows = ["| parameter | type | default | range | description |", "|---|---|---|---|---|"]
    for s in specs(cls):
        rng = "" if s.choices is None else " / ".join(map(str, s.choices))
        if s.low is not None or s.high is not None:
            rng = f"[{'' if s.low is None else s.low}, {'' if s.high is None else s.high}]"
        tname = getattr(s.type, "__name__", str(s.type))
        rows.append(f"| `{s.name}` | {tname} | `{s.default!r}` | {rng} | {s.description} |")
    return "\n".join(rows)
