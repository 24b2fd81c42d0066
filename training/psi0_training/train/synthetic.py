"""Synthetic episodes in memory (ArrayChunkDataset) for tests and benchmarks of the trainer.

Actions are smooth, learnable functions of time: a_j(t) = 0.3 sin(w_j t + p_j) + 0.1 j / A (+ 0.02 noise),
the state is the first S action dims, the image brightness follows the episode phase, so a model that
learns anything lowers its loss quickly.
"""
from __future__ import annotations

import numpy as np

from psi0_training.train.batches import ArrayChunkDataset


def synthetic_episodes(n_episodes: int = 4, length: int = 40, action_dim: int = 36, state_dim: int = 32,
                       image_hw: tuple[int, int] = (48, 64), seed: int = 0, task: str = "pick up the red cube"):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2.0, action_dim)
    p = rng.uniform(0, 2 * np.pi, action_dim)
    eps = []
    for e in range(n_episodes):
        t = np.arange(length)[:, None] / 30.0 + e * 0.37
        act = 0.3 * np.sin(w * t + p) + 0.1 * np.arange(action_dim) / action_dim
        act = act + 0.02 * rng.standard_normal(act.shape)
        img = np.zeros((length, *image_hw, 3), np.uint8)
        img[..., 0] = (np.linspace(0, 255, length)[:, None, None]).astype(np.uint8)
        img[..., 1] = (np.arange(image_hw[1]) * 255 // max(image_hw[1] - 1, 1)).astype(np.uint8)[None, None]
        img[..., 2] = 40 * e % 256
        eps.append({"action": act.astype(np.float32), "state": act[:, :state_dim].astype(np.float32),
                    "image": img, "task": task})
    return eps


def synthetic_split(horizon: int, n_train: int = 4, n_val: int = 1, **kw):
    """(train_set, val_set, stats) with stats of the training episodes (meta/stats.json format)."""
    eps = synthetic_episodes(n_train + n_val, **kw)
    train_set = ArrayChunkDataset(eps[:n_train], horizon)
    val_set = ArrayChunkDataset(eps[n_train:], horizon) if n_val else None
    return train_set, val_set, train_set.stats()
