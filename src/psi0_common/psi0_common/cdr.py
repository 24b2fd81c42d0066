"""Read and write fixed-size ROS 2 messages straight from their CDR bytes (ROS-free).

Why: rclpy turns a message into Python objects field by field. For the G1's LowState (35 motors,
2092 bytes) that is ~0.3 ms of GIL-holding work per message, measured in the bridge's command
thread as its largest and most variable cost (docs/benchmarks.md, "AMO bridge"). A message whose
fields are all fixed-size (no strings, no unbounded or bounded sequences) has every field at a
fixed byte offset, so numpy can gather the fields in microseconds, and a command can be written
into a preset buffer that rclpy publishes as serialized bytes.

Wire format (OMG CDR, XCDR1 as the ROS 2 DDS middlewares use it): a 4-byte encapsulation header
(0x00 0x01 = little-endian plain CDR; 0x00 0x00 = big-endian), then the fields in declaration
order, each primitive aligned to its own size (at most 8) counted from the end of the header;
fixed arrays have no length prefix; nested messages add no padding of their own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

HEADER_LE = b"\x00\x01\x00\x00"
HEADER_SIZE = 4

# ROS 2 IDL primitive type names -> little-endian numpy dtypes.
PRIMITIVES = {
    "bool": "u1", "byte": "u1", "octet": "u1", "char": "u1", "uint8": "u1", "int8": "i1",
    "uint16": "<u2", "int16": "<i2", "uint32": "<u4", "int32": "<i4", "uint64": "<u8", "int64": "<i8",
    "float": "<f4", "double": "<f8", "float32": "<f4", "float64": "<f8",
}
_TYPE = re.compile(r"^(?P<base>[A-Za-z0-9_/]+)(\[(?P<count>\d+)\])?$")


@dataclass(frozen=True)
class Field:
    dtype: np.dtype
    offsets: np.ndarray  # absolute byte offset of every element (header included), in order

    @property
    def count(self) -> int:
        return len(self.offsets)


class FixedLayout:
    """Byte offsets of every primitive field of one fixed-size message type.

    `fields` maps a field name to its ROS type string ("uint32", "float32[4]", "pkg/Msg[35]");
    `resolve` returns the same mapping for a nested message type name ("pkg/Msg").
    Paths of nested fields are dotted ("motor_state.q"); an array of messages gives each of its
    primitive fields one offset per element.
    """

    def __init__(self, fields: Mapping[str, str], resolve: Callable[[str], Mapping[str, str]] | None = None):
        self._resolve = resolve
        self._offsets: dict[str, list[int]] = {}
        self._dtypes: dict[str, np.dtype] = {}
        end = self._place(fields, "", 0)
        self.size = HEADER_SIZE + end  # serialized length, header included
        self.fields = {path: Field(self._dtypes[path], np.array(offs, np.int64) + HEADER_SIZE)
                       for path, offs in self._offsets.items()}
        # Byte-gather indices per field: one row of itemsize bytes per element.
        self._index = {p: f.offsets[:, None] + np.arange(f.dtype.itemsize) for p, f in self.fields.items()}

    def _place(self, fields: Mapping[str, str], prefix: str, offset: int) -> int:
        for name, type_str in fields.items():
            m = _TYPE.match(type_str.replace(" ", ""))
            # the pattern takes only NAME or NAME[N]: sequences (`T[]`, `sequence<T>`) and bounds (`<=`) fail it
            if m is None or type_str.startswith(("string", "wstring")):
                raise ValueError(f"field {prefix}{name}: {type_str!r} is not fixed-size; CDR offsets would vary")
            base, count = m["base"], int(m["count"] or 1)
            path = prefix + name
            if base in PRIMITIVES:
                dtype = np.dtype(PRIMITIVES[base])
                offset = _align(offset, dtype.itemsize)
                self._dtypes[path] = dtype
                # extend: the elements of an array of messages each add one run of this field
                self._offsets.setdefault(path, []).extend(range(offset, offset + count * dtype.itemsize,
                                                                dtype.itemsize))
                offset += count * dtype.itemsize
            else:
                if self._resolve is None:
                    raise ValueError(f"field {path}: nested type {base!r} and no resolver given")
                nested = self._resolve(base)
                for _ in range(count):
                    offset = self._place(nested, path + ".", offset)
        return offset

    def check(self, raw) -> None:
        """Raise ValueError unless `raw` is this message in little-endian plain CDR."""
        if len(raw) != self.size:
            raise ValueError(f"expected {self.size} bytes of CDR, got {len(raw)}")
        if bytes(raw[:2]) != HEADER_LE[:2]:
            raise ValueError(f"encapsulation {bytes(raw[:2]).hex()} is not little-endian plain CDR (0001)")

    def read(self, raw, path: str) -> np.ndarray:
        """All elements of one field as a new array (call `check` once per message first)."""
        buf = np.frombuffer(raw, np.uint8)
        return buf[self._index[path]].view(self.fields[path].dtype).reshape(-1)

    def new_buffer(self) -> np.ndarray:
        """A zeroed message with the little-endian header, to be filled with `write`."""
        buf = np.zeros(self.size, np.uint8)
        buf[:HEADER_SIZE] = np.frombuffer(HEADER_LE, np.uint8)
        return buf

    def write(self, buf: np.ndarray, path: str, values) -> None:
        f = self.fields[path]
        arr = np.ascontiguousarray(np.broadcast_to(np.asarray(values, f.dtype), (f.count,)))
        buf[self._index[path]] = arr.view(np.uint8).reshape(f.count, f.dtype.itemsize)


def _align(offset: int, size: int) -> int:
    size = min(size, 8)
    return (offset + size - 1) // size * size
