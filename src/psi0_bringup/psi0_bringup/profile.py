"""Bringup profiles: the single source of which nodes run with which parameters.

A profile is YAML in config/profiles/<name>.yaml:

    description: one line for `psi0 profiles`
    extends: sim                # optional: start from another profile
    env: {MUJOCO_GL: osmesa}    # optional: environment for every node
    nodes:
      <node name>:
        package: psi0_sim
        executable: sim_node
        required: true          # its exit stops the whole graph (default true)
        respawn: false          # restart it when it dies (only if not required)
        enabled: true           # an extending profile may switch a node off
        parameters: {...}       # checked against the node's config class
        remappings: {from: to}

Both `ros2 launch psi0_bringup <profile>.launch.py` and `psi0 launch <profile>`
read profiles through `load_profile`, so both start the same graph.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from psi0_common.config import ConfigError, did_you_mean, from_mapping

PROFILE_KEYS = {"description", "extends", "env", "nodes"}
NODE_KEYS = {"package", "executable", "required", "respawn", "enabled", "parameters", "remappings", "args"}


@dataclass(frozen=True)
class NodeSpec:
    name: str
    package: str
    executable: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    required: bool = True
    respawn: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    env: dict[str, str]
    nodes: tuple[NodeSpec, ...]
    path: Path


def profile_dirs() -> list[Path]:
    """Where profiles are looked up: $PSI0_PROFILE_PATH, then the installed share dir, then the source tree."""
    dirs = [Path(p) for p in os.environ.get("PSI0_PROFILE_PATH", "").split(os.pathsep) if p]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / "psi0_bringup" / "config" / "profiles")
    dirs.append(Path(__file__).resolve().parents[1] / "config" / "profiles")
    return [d for d in dirs if d.is_dir()]


def available_profiles() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in profile_dirs():
        for p in sorted(d.glob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"profile file {p} does not exist")
        return p
    profiles = available_profiles()
    if name_or_path not in profiles:
        raise ConfigError(f"unknown profile {name_or_path!r}{did_you_mean(name_or_path, profiles)}; "
                          f"available: {', '.join(sorted(profiles)) or 'none'}")
    return profiles[name_or_path]


def _reject_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], allowed)}")


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path}: expected a mapping at the top level")
    _reject_unknown_keys(data, PROFILE_KEYS, f"profile {path}")
    return data


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if path in seen:
        raise ConfigError(f"profile {path}: 'extends' forms a cycle")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent:
        data = _merge(_raw(resolve(parent), seen + (path,)), data)
    return data


def parse_override(text: str) -> tuple[str, str, Any]:
    """`node.param=value` -> (node, param, YAML-typed value)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like node.parameter=value")
    key, value = text.split("=", 1)
    node, param = key.split(".", 1)
    return node, param, yaml.safe_load(value) if value else ""


def load_profile(name_or_path: str, overrides: list[str] = (), check_parameters: bool = True) -> Profile:
    path = resolve(name_or_path)
    data = _raw(path)
    nodes_raw = data.get("nodes") or {}
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise ConfigError(f"profile {path}: 'nodes' must be a non-empty mapping of node name -> spec")
    for text in overrides:
        node, param, value = parse_override(text)
        if node not in nodes_raw:
            raise ConfigError(f"override {text!r}: no node {node!r} in profile{did_you_mean(node, nodes_raw)}")
        nodes_raw[node].setdefault("parameters", {})[param] = value
    nodes = []
    for name, spec in nodes_raw.items():
        nodes_spec = _node_spec(path, name, spec)
        if nodes_spec is not None:
            nodes.append(nodes_spec)
    if not nodes:
        raise ConfigError(f"profile {path}: every node is disabled")
    env = {str(k): str(v) for k, v in (data.get("env") or {}).items()}
    profile = Profile(path.stem, str(data.get("description", "")), env, tuple(nodes), path)
    if check_parameters:
        check_profile_parameters(profile)
    return profile


def _node_spec(path: Path, name: str, spec: Any) -> NodeSpec | None:
    where = f"profile {path}: node {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping")
    _reject_unknown_keys(spec, NODE_KEYS, where)
    for key in ("package", "executable"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ConfigError(f"{where}: '{key}' is required")
    if not spec.get("enabled", True):
        return None
    params = spec.get("parameters") or {}
    remaps = spec.get("remappings") or {}
    if not isinstance(params, dict) or not isinstance(remaps, dict):
        raise ConfigError(f"{where}: 'parameters' and 'remappings' must be mappings")
    required = bool(spec.get("required", True))
    respawn = bool(spec.get("respawn", False))
    if required and respawn:
        raise ConfigError(f"{where}: a node cannot be both required and respawned")
    return NodeSpec(name, spec["package"], spec["executable"], dict(params),
                    {str(k): str(v) for k, v in remaps.items()}, [str(a) for a in spec.get("args") or []],
                    required, respawn)


def check_profile_parameters(profile: Profile) -> None:
    """Validate each node's parameters against its config class, before anything starts."""
    from psi0_bringup.registry import config_class

    for node in profile.nodes:
        cls = config_class(node.package, node.executable)
        if cls is not None:
            from_mapping(cls, node.parameters, where=f"profile {profile.name}: node {node.name!r}: ")


def ros_params_file_content(profile: Profile) -> dict:
    """The ROS 2 parameter-file mapping for every node of the profile."""
    return {n.name: {"ros__parameters": n.parameters} for n in profile.nodes if n.parameters}
