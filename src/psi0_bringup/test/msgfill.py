"""Deterministic contents for any ROS message type, for interface round-trip tests.

Walks the generated class's SLOT_TYPES (rosidl_parser definitions) and fills
every field, nested messages and arrays included, from a seeded RNG. Floats
are float32-representable so they survive the wire exactly.
"""
from __future__ import annotations

import importlib
import random

import numpy as np
from rosidl_parser import definition as d

INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
              "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-2**40, 2**40),
              "uint64": (0, 2**40), "char": (0, 127), "byte": (0, 255), "octet": (0, 255)}


def message_class(namespaced: d.NamespacedType):
    module = importlib.import_module(".".join(namespaced.namespaces))
    return getattr(module, namespaced.name)


def _basic(t: d.BasicType, rng: random.Random):
    name = t.typename
    if name == "boolean":
        return rng.random() < 0.5
    if name in ("float", "double"):
        return float(np.float32(rng.uniform(-100, 100)))
    if name in ("octet", "byte"):
        return bytes([rng.randint(0, 255)])
    lo, hi = INT_RANGES[name]
    return rng.randint(lo, hi)


def _value(t, rng: random.Random):
    if isinstance(t, d.BasicType):
        return _basic(t, rng)
    if isinstance(t, d.AbstractGenericString):
        return "".join(rng.choice("abcdefghij XYZ_0123") for _ in range(rng.randint(0, 12)))
    if isinstance(t, d.NamespacedType):
        return fill(message_class(t)(), rng)
    if isinstance(t, d.Array):
        return [_value(t.value_type, rng) for _ in range(t.size)]
    if isinstance(t, d.AbstractSequence):
        n = rng.randint(0, 4)
        if isinstance(t, d.BoundedSequence):
            n = min(n, t.maximum_size)
        return [_value(t.value_type, rng) for _ in range(n)]
    raise TypeError(f"unsupported field type {t!r}")


def fill(msg, rng: random.Random):
    for name, t in zip(msg.get_fields_and_field_types(), msg.SLOT_TYPES):
        setattr(msg, name, _value(t, rng))
    return msg


def make(cls, seed: int):
    return fill(cls(), random.Random(seed))


def same(a, b) -> bool:
    """Field-by-field equality that understands numpy arrays and nested messages."""
    if hasattr(a, "get_fields_and_field_types"):
        return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in a.get_fields_and_field_types())
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        if len(a) != len(b):
            return False
        return all(same(x, y) for x, y in zip(a, b))
    return a == b


def interface_classes():
    """Every message of psi0_msgs and unitree_hg, plus the request/response of every service."""
    out = []
    for pkg in ("psi0_msgs", "unitree_hg"):
        msgs = importlib.import_module(f"{pkg}.msg")
        out += [getattr(msgs, n) for n in sorted(dir(msgs)) if not n.startswith("_") and hasattr(getattr(msgs, n), "SLOT_TYPES")]
        try:
            srvs = importlib.import_module(f"{pkg}.srv")
        except ImportError:
            continue
        for n in sorted(dir(srvs)):
            srv = getattr(srvs, n)
            if hasattr(srv, "Request") and not n.startswith("_") and not n.endswith("_Event"):
                out += [srv.Request, srv.Response]
    return out


def topic_for(cls) -> str:
    return "/roundtrip/" + cls.__module__.split(".")[0] + "_" + cls.__name__
