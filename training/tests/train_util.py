"""Helpers of the trainer tests: quick configs, synthetic data, a converted dataset, weight comparison."""
from __future__ import annotations

from pathlib import Path

import torch

from psi0_training.train.configs import get_config
from psi0_training.train.synthetic import synthetic_split


def quick(name: str, out: Path, **over):
    """A debug config writing to `out`, no progress bar, evaluation only at the end."""
    base = {"output_dir": str(out), "progress": False, "eval_every": 0, "eval_batches": 1, "save_every": 1000}
    return get_config(name, {**base, **over})


def data_for(cfg, n_train: int = 4, n_val: int = 1, length: int = 40, seed: int = 0):
    return synthetic_split(cfg.horizon, n_train=n_train, n_val=n_val, length=length, action_dim=cfg.action_dim,
                           state_dim=cfg.state_dim, seed=seed)


def convert_dataset(root: Path, episodes: int = 3, duration_s: float = 2.0) -> Path:
    """Synthetic G1 bags -> `psi0 convert` -> dataset directory (the data engineer's writer API)."""
    from psi0_training.data.config import ConvertConfig
    from psi0_training.data.convert import convert
    from psi0_training.data.synthetic import SynthSpec, write_episode

    for e in range(episodes):
        write_episode(root / "bags" / f"ep{e}", SynthSpec(duration_s=duration_s, image_hw=(48, 64),
                                                           lowstate_hz=100.0, task="pick up the red cube"))
    out = root / "dataset"
    convert([root / "bags"], out, ConvertConfig(image_height=48, image_width=64, store_video=False),
            progress=False, log=lambda *a: None)
    return out


def safetensors_of(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(Path(ckpt) / "model.safetensors"))


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)
