"""Normalization statistics of actions and states (norm_stats.json), numpy only.

`minmax` maps [min, max] to [-1, 1] (Psi0 fine-tuning); `meanstd` maps to
zero mean, unit variance. Dims with a (near) constant value map to 0 and
back to their constant, never to inf/NaN.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPS = 1e-6


@dataclass(frozen=True)
class Stats:
    """Per-dim statistics of one feature; `a`/`b` are min/max or mean/std depending on `kind`."""
    kind: str
    a: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        if self.kind not in ("minmax", "meanstd"):
            raise ValueError(f"normalization kind {self.kind!r} is not 'minmax' or 'meanstd'")
        if self.a.shape != self.b.shape or self.a.ndim != 1:
            raise ValueError(f"statistics must be two 1-D arrays of one length, got {self.a.shape} and {self.b.shape}")
        if not (np.isfinite(self.a).all() and np.isfinite(self.b).all()):
            raise ValueError("normalization statistics have non-finite values")
        if self.kind == "minmax" and (self.b < self.a).any():
            raise ValueError(f"max < min at dims {np.flatnonzero(self.b < self.a).tolist()}")
        if self.kind == "meanstd" and (self.b < 0).any():
            raise ValueError(f"negative std at dims {np.flatnonzero(self.b < 0).tolist()}")

    @property
    def dim(self) -> int:
        return self.a.shape[0]

    def _center_scale(self):
        if self.kind == "minmax":
            return (self.a + self.b) / 2, np.maximum((self.b - self.a) / 2, EPS)
        return self.a, np.maximum(self.b, EPS)

    def normalize(self, x):
        c, s = self._center_scale()
        return (np.asarray(x, np.float64) - c) / s

    def unnormalize(self, y):
        c, s = self._center_scale()
        return np.asarray(y, np.float64) * s + c

    @classmethod
    def fit(cls, data: np.ndarray, kind: str = "minmax") -> "Stats":
        data = np.asarray(data, np.float64).reshape(-1, np.asarray(data).shape[-1])
        if kind == "minmax":
            return cls(kind, data.min(0), data.max(0))
        return cls(kind, data.mean(0), data.std(0))


@dataclass(frozen=True)
class NormStats:
    action: Stats
    state: Stats

    def to_dict(self) -> dict:
        keys = ("min", "max") if self.action.kind == "minmax" else ("mean", "std")
        out = {"kind": self.action.kind}
        for name, st in (("action", self.action), ("state", self.state)):
            out[name] = {keys[0]: st.a.tolist(), keys[1]: st.b.tolist()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        kind = d.get("kind")
        keys = {"minmax": ("min", "max"), "meanstd": ("mean", "std")}.get(kind)
        if keys is None:
            raise ValueError(f"norm_stats kind {kind!r} is not 'minmax' or 'meanstd'")
        parts = {}
        for name in ("action", "state"):
            if name not in d or any(k not in d[name] for k in keys):
                raise ValueError(f"norm_stats has no {name}.{keys[0]}/{keys[1]}")
            parts[name] = Stats(kind, np.asarray(d[name][keys[0]], np.float64), np.asarray(d[name][keys[1]], np.float64))
        return cls(**parts)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> "NormStats":
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def identity(cls, action_dim: int, state_dim: int) -> "NormStats":
        """mean 0 / std 1: for random smoke-test models only."""
        return cls(Stats("meanstd", np.zeros(action_dim), np.ones(action_dim)),
                   Stats("meanstd", np.zeros(state_dim), np.ones(state_dim)))
