"""Read a few scalar fields straight out of CDR bytes at fixed offsets.

Full deserialization of a LowState (35 nested MotorStates) costs ~100 us in
pure Python, which at 500 Hz would dominate conversion. The fields we need
(motor q's) sit at offsets that are fixed for a given definition, so they are
computed once from the typestore with the CDR alignment rules and read with
one precompiled `struct` per message (~1 us). `FieldReader.verify` compares
against the full deserializer; the converter falls back to it when they differ.
"""
from __future__ import annotations

import re
import struct

from rosbags.interfaces import Nodetype

_BASE = {"bool": (1, "?"), "byte": (1, "B"), "char": (1, "B"), "int8": (1, "b"), "uint8": (1, "B"),
         "int16": (2, "h"), "uint16": (2, "H"), "int32": (4, "i"), "uint32": (4, "I"),
         "int64": (8, "q"), "uint64": (8, "Q"), "float32": (4, "f"), "float64": (8, "d")}
_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


class Unsupported(ValueError):
    """The path crosses a field whose size depends on the message (string, sequence before it)."""


def _align(pos: int, n: int) -> int:
    return (pos + n - 1) // n * n


def _skip(store, desc, pos: int) -> int:
    kind, arg = desc
    if kind == Nodetype.BASE:
        name = arg[0]
        if name not in _BASE:
            raise Unsupported(f"variable-size field of type {name}")
        n = _BASE[name][0]
        return _align(pos, n) + n
    if kind == Nodetype.NAME:
        for _, fdesc in store.fielddefs[arg][1]:
            pos = _skip(store, fdesc, pos)
        return pos
    if kind == Nodetype.ARRAY:
        sub, length = arg
        for _ in range(length):
            pos = _skip(store, sub, pos)
        return pos
    raise Unsupported("sequence before the requested field")


def field_offset(store, typename: str, path: str) -> tuple[int, str, list[tuple[int, int]]]:
    """(payload offset, struct code, [(sequence length offset, minimum length)]) of a scalar field path.

    `path` looks like "motor_state[15].q" or "imu_state.rpy[2]".
    """
    pos, checks = 0, []
    desc = (Nodetype.NAME, typename)
    for part in path.split("."):
        m = _PART.match(part)
        if not m or desc[0] != Nodetype.NAME:
            raise Unsupported(f"bad path {path!r} at {part!r}")
        name, index = m.group(1), m.group(2)
        for fname, fdesc in store.fielddefs[desc[1]][1]:
            if fname == name:
                break
            pos = _skip(store, fdesc, pos)
        else:
            raise Unsupported(f"{desc[1]} has no field {name!r}")
        desc = fdesc
        if index is not None:
            i = int(index)
            kind, (sub, length) = desc[0], desc[1] if desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE) else (None, 0)
            if kind == Nodetype.ARRAY:
                if i >= length:
                    raise Unsupported(f"{path}: index {i} beyond array length {length}")
            elif kind == Nodetype.SEQUENCE:
                pos = _align(pos, 4)
                checks.append((pos, i + 1))
                pos += 4
            else:
                raise Unsupported(f"{path}: {name} is not an array")
            for _ in range(i):
                pos = _skip(store, sub, pos)
            desc = sub
    if desc[0] != Nodetype.BASE or desc[1][0] not in _BASE:
        raise Unsupported(f"{path} is not a numeric scalar")
    n, code = _BASE[desc[1][0]]
    return _align(pos, n), code, checks


class FieldReader:
    """Reads the given scalar field paths from little-endian CDR messages of one type."""

    def __init__(self, store, typename: str, paths: list[str]):
        self.typename, self.paths = typename, list(paths)
        located = [field_offset(store, typename, p) for p in paths]
        order = sorted(range(len(paths)), key=lambda k: located[k][0])
        fmt, pos = "<", 0
        for k in order:
            off, code, _ = located[k]
            if off < pos:  # two paths on one field: not needed by the converter
                raise Unsupported("overlapping fields")
            fmt += f"{off - pos}x{code}" if off > pos else code
            pos = off + struct.calcsize("<" + code)
        self._struct = struct.Struct(fmt)
        self._order = order
        self._unorder = [order.index(k) for k in range(len(paths))]
        self._checks = [c for _, _, cs in located for c in cs]

    def read(self, raw) -> tuple | None:
        """Field values in `paths` order, or None when this message does not fit the fixed layout."""
        if len(raw) < 4 or raw[1] != 1 or len(raw) - 4 < self._struct.size:
            return None
        for off, need in self._checks:
            if struct.unpack_from("<I", raw, 4 + off)[0] < need:
                return None
        vals = self._struct.unpack_from(raw, 4)
        return tuple(vals[k] for k in self._unorder)

    def verify(self, store, raw) -> bool:
        """True when the fast read equals the full deserializer on this message."""
        fast = self.read(raw)
        if fast is None:
            return False
        msg = store.deserialize_cdr(raw, self.typename)
        for path, value in zip(self.paths, fast):
            obj = msg
            for part in path.split("."):
                m = _PART.match(part)
                obj = getattr(obj, m.group(1))
                if m.group(2) is not None:
                    obj = obj[int(m.group(2))]
            if not (obj == value or (obj != obj and value != value)):
                return False
        return True
