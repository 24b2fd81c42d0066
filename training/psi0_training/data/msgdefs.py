"""Message definitions for reading bags without ROS.

A bag's bytes are decoded with the definitions that wrote them: those embedded
in the bag (rosbag2 >= Iron stores them in both storages). Older bags carry
none, so the workspace's own `.msg` files (psi0_msgs, unitree_hg) fill in,
found in the source tree and in every `share/<pkg>/msg` on AMENT_PREFIX_PATH.
Standard types (std_msgs, sensor_msgs, builtin_interfaces) come from rosbags'
bundled store.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore, get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

OUR_PACKAGES = ("psi0_msgs", "unitree_hg")
BASE_STORE = Stores.ROS2_JAZZY


def msg_dirs() -> list[Path]:
    """Directories holding our .msg files: $PSI0_MSG_PATH, AMENT share dirs, then the source tree."""
    dirs = [Path(p) for p in os.environ.get("PSI0_MSG_PATH", "").split(os.pathsep) if p]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs += [Path(prefix) / "share" / pkg / "msg" for pkg in OUR_PACKAGES]
    src = Path(__file__).resolve().parents[3] / "src"
    dirs += [src / pkg / "msg" for pkg in OUR_PACKAGES]
    return [d for d in dirs if d.is_dir()]


@lru_cache(maxsize=None)
def workspace_types() -> dict:
    """Typesdict of our packages' messages; the first directory that defines a type wins."""
    types: dict = {}
    for d in msg_dirs():
        pkg = d.parent.name
        for f in sorted(d.glob("*.msg")):
            name = f"{pkg}/msg/{f.stem}"
            if name not in types:
                types.update({k: v for k, v in get_types_from_msg(f.read_text(), name).items() if k not in types})
    return types


@lru_cache(maxsize=1)
def _bundled() -> Typestore:
    return get_typestore(BASE_STORE)


def _deps(fields) -> list[str]:
    out = []
    for _, desc in fields:
        kind, arg = desc
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            kind, arg = arg[0]
        if kind == Nodetype.NAME:
            out.append(arg)
    return out


def _closure(roots, *sources) -> dict:
    """Definitions of `roots` and everything they reference, the first source defining a type winning."""
    out: dict = {}
    todo = list(roots) + ["builtin_interfaces/msg/Time", "builtin_interfaces/msg/Duration",
                          "std_msgs/msg/Header", "std_msgs/msg/String"]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        for src in sources:
            if name in src:
                out[name] = src[name]
                todo += _deps(src[name][1])
                break
    return out


def _parse_embedded(msgtype: str, fmt: str, text: str) -> dict:
    if fmt == "IDL" or text.startswith("=" * 80 + "\nIDL: "):
        return get_types_from_idl(text)
    return get_types_from_msg(text, msgtype)


def typestore_for(connections, extra_types=()) -> tuple[Typestore, dict[str, str]]:
    """A typestore that decodes these rosbags connections, and where each type's definition came from.

    Embedded definitions win (they describe the bytes); a type without one falls
    back to the workspace, then to rosbags' standard store. Unknown types are
    reported as "missing" and their topics cannot be decoded.
    """
    store = get_typestore(Stores.EMPTY)
    ours = workspace_types()
    source: dict[str, str] = {}
    for conn in connections:
        fmt = getattr(conn.msgdef.format, "name", str(conn.msgdef.format))
        if conn.msgdef.data and conn.msgtype not in source:
            try:
                types = _parse_embedded(conn.msgtype, fmt, conn.msgdef.data)
                store.register({k: v for k, v in types.items() if k not in store.fielddefs})
                source[conn.msgtype] = "embedded"
            except Exception as exc:  # a garbled definition: fall back like a missing one
                source[conn.msgtype] = f"embedded definition unreadable ({exc}); "
    # Then the workspace's own definitions, then the bundled standard ones; only what these
    # connections need (registering all ~180 bundled types costs ~0.4 s per bag).
    need = _closure({c.msgtype for c in connections} | set(extra_types), store.fielddefs, ours,
                    _bundled().fielddefs)
    store.register({k: v for k, v in need.items() if k not in store.fielddefs})
    for t in sorted({c.msgtype for c in connections}):
        if source.get(t) == "embedded":
            continue
        prefix = source.get(t, "")
        if t in ours:
            source[t] = prefix + "workspace .msg"
        elif t in store.fielddefs:
            source[t] = prefix + f"rosbags {BASE_STORE.name.lower()} store"
        else:
            source[t] = prefix + "missing"
    return store, source
