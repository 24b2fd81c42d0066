"""Checkpoint directory: model.safetensors + config.json + norm_stats.json (+ tokenizer).

    <dir>/config.json        {"format": FORMAT, "model": Psi0ModelConfig.to_dict() (with the backbone's
                             Qwen3VLConfig), "action_dim": 36, "state_dim": 32, "action_names": [...]}
    <dir>/model.safetensors  every weight of backbone (truncated) + expert, in the config's dtype
    <dir>/norm_stats.json    NormStats (model/normalize.py)
    <dir>/tokenizer.json     char tokenizer (tiny/mid) or <dir>/processor/ (Qwen processor, full)

Written to a temporary sibling directory and renamed, so a crash never leaves
half a checkpoint. Loading needs no network and no original backbone path:
the architecture comes from config.json. Every dimension is checked and a
mismatch names what differs.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from psi0_common.action_layout import ACTION_DIM, STATE_DIM, action_names
from psi0_policy.model.config import Psi0ModelConfig
from psi0_policy.model.normalize import NormStats
from psi0_policy.model.processor import Psi0Processor
from psi0_policy.model.psi0 import Psi0Model

FORMAT = "psi0-policy/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what mismatches."""


def save_checkpoint(directory, model: Psi0Model, norm_stats: NormStats, processor: Psi0Processor,
                    extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    directory = Path(directory)
    _check_stats(model.cfg, norm_stats, directory)
    cfg = dataclasses.replace(model.cfg, backbone=dataclasses.replace(
        model.cfg.backbone, hf_config=model.backbone.hf_config_dict(), path=""))
    if model.cfg.backbone.feature_layer != -1:
        cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, feature_layer=-1))  # truncated
    meta = {"format": FORMAT, "model": cfg.to_dict(), "action_dim": cfg.action_dim, "state_dim": cfg.state_dim,
            "action_names": action_names()[: cfg.action_dim], **(extra or {})}
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=directory.name + ".tmp", dir=directory.parent))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        (tmp / "config.json").write_text(json.dumps(meta, indent=1))
        norm_stats.save(tmp / "norm_stats.json")
        processor.save(tmp)
        if directory.exists():
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _check_stats(cfg: Psi0ModelConfig, ns: NormStats, where) -> None:
    errs = []
    if ns.action.dim != cfg.action_dim:
        errs.append(f"norm_stats action has {ns.action.dim} dims, the model {cfg.action_dim}")
    if ns.state.dim != cfg.state_dim:
        errs.append(f"norm_stats state has {ns.state.dim} dims, the model {cfg.state_dim}")
    if errs:
        raise CheckpointError(f"{where}: " + "; ".join(errs))


def read_config(directory) -> Psi0ModelConfig:
    directory = Path(directory)
    path = directory / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{directory}: no config.json (is this a psi0 checkpoint directory?)")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    cfg = Psi0ModelConfig.from_dict(meta["model"])
    errs = []
    for key, want in (("action_dim", ACTION_DIM), ("state_dim", STATE_DIM)):
        if meta.get(key) != want or getattr(cfg, key) != want:
            errs.append(f"{key} is {meta.get(key)} (model {getattr(cfg, key)}), the Psi0 layout needs {want}")
    names = meta.get("action_names")
    if names is not None and list(names) != action_names()[: cfg.action_dim]:
        bad = next(i for i, (a, b) in enumerate(zip(names, action_names())) if a != b) if len(names) == ACTION_DIM \
            else len(names)
        errs.append(f"action_names differ from the Psi0 layout from index {bad}")
    if errs:
        raise CheckpointError(f"{path}: " + "; ".join(errs))
    return cfg


def load_checkpoint(directory, device: str | torch.device = "cpu", dtype: str | None = None):
    """-> (Psi0Model in eval mode, NormStats, Psi0Processor). Raises CheckpointError naming any mismatch."""
    from safetensors import safe_open

    directory = Path(directory)
    cfg = read_config(directory)
    if dtype is not None:
        cfg = dataclasses.replace(cfg, dtype=dtype)
    ns_path = directory / "norm_stats.json"
    if not ns_path.is_file():
        raise CheckpointError(f"{directory}: no norm_stats.json")
    try:
        ns = NormStats.load(ns_path)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{ns_path}: {exc}") from exc
    _check_stats(cfg, ns, ns_path)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{directory}: no model.safetensors")
    model = Psi0Model(cfg, load_pretrained_backbone=False)
    expected = model.state_dict()
    with safe_open(str(weights), framework="pt") as f:
        keys = set(f.keys())
        missing = sorted(set(expected) - keys)
        unexpected = sorted(keys - set(expected))
        shape_errs = [f"{k}: file {tuple(f.get_slice(k).get_shape())} vs model {tuple(expected[k].shape)}"
                      for k in sorted(keys & set(expected)) if tuple(f.get_slice(k).get_shape()) != tuple(expected[k].shape)]
        if missing or unexpected or shape_errs:
            parts = []
            if shape_errs:
                parts.append(f"{len(shape_errs)} shape mismatches: " + "; ".join(shape_errs[:5]))
            if missing:
                parts.append(f"{len(missing)} missing tensors: " + ", ".join(missing[:5]))
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected tensors: " + ", ".join(unexpected[:5]))
            raise CheckpointError(f"{weights} does not match config.json: " + " | ".join(parts))
        state = {k: f.get_tensor(k) for k in keys}
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return model, ns, Psi0Processor.load(cfg, directory)


def trained_max_delay(directory) -> int | None:
    """The training-time RTC maximum delay recorded with a trainer's checkpoint (train_config.json
    `max_delay`), or None when the directory has no train_config.json (e.g. a hand-made checkpoint).
    Prefixes longer than max_delay - 1 were never seen in training."""
    path = Path(directory) / "train_config.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text()).get("max_delay")
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from exc
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CheckpointError(f"{path}: max_delay must be a non-negative integer, got {value!r}")
    return value
