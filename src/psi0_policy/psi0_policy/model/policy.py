"""ChunkPolicy: raw observation -> action chunk, the inference side of the model.

What the RTC runtime calls (rtc/runtime.py, `Policy` protocol):
    chunk_norm = policy.infer(obs, prefix_norm)     # (H, 36) normalized; prefix rows copied exactly
    actions = policy.unnormalize(chunk_norm)        # (H, 36) in robot units
    prefix_norm = policy.normalize(actions)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from psi0_common.action_layout import ACTION_DIM, STATE_DIM, standing_action
from psi0_policy.model.checkpoint import load_checkpoint
from psi0_policy.model.config import model_config
from psi0_policy.model.normalize import NormStats, Stats
from psi0_policy.model.processor import Psi0Processor
from psi0_policy.model.psi0 import Psi0Model


@dataclass(frozen=True)
class Observation:
    image: np.ndarray   # HxWx3 uint8 RGB
    state: np.ndarray   # (32,) raw state, Psi0 layout
    task: str
    stamp: float = 0.0  # seconds, when the image was taken (runtime clock)


class ChunkPolicy:
    def __init__(self, model: Psi0Model, norm_stats: NormStats, processor: Psi0Processor,
                 num_steps: int | None = None, seed: int | None = None):
        self.model = model.eval()
        self.norm = norm_stats
        self.processor = processor
        self.num_steps = num_steps or model.cfg.flow_steps
        self.horizon = model.cfg.expert.horizon
        self.action_dim = model.cfg.action_dim
        self.generator = torch.Generator(device=model.device)
        if seed is not None:
            self.generator.manual_seed(seed)

    @classmethod
    def from_checkpoint(cls, path, device: str = "cpu", dtype: str | None = None, **kw) -> "ChunkPolicy":
        model, ns, proc = load_checkpoint(path, device=device, dtype=dtype)
        return cls(model, ns, proc, **kw)

    @classmethod
    def random(cls, size: str = "tiny", device: str = "cpu", seed: int = 0, **kw) -> "ChunkPolicy":
        """Randomly initialised model for smoke runs only: its actions mean nothing. Statistics centre the
        output on the standing pose with a 0.05 spread so a smoke run stays near a safe pose."""
        torch.manual_seed(seed)
        cfg = model_config(size)
        model = Psi0Model(cfg).to(device)
        stand = standing_action()
        ns = NormStats(Stats("meanstd", stand, np.full(ACTION_DIM, 0.05)),
                       Stats("meanstd", stand[:STATE_DIM], np.ones(STATE_DIM)))
        return cls(model, ns, Psi0Processor(cfg), seed=seed, **kw)

    def normalize(self, actions) -> np.ndarray:
        return self.norm.action.normalize(actions)

    def unnormalize(self, chunk_norm) -> np.ndarray:
        return self.norm.action.unnormalize(chunk_norm)

    def infer(self, obs: Observation, prefix_norm: np.ndarray | None = None) -> np.ndarray:
        """One chunk (H, 36), normalized. prefix_norm (P, 36): committed actions, written in clean (RTC)."""
        state = np.asarray(obs.state, np.float64)
        if state.shape != (STATE_DIM,) or not np.isfinite(state).all():
            raise ValueError(f"state must be {STATE_DIM} finite values, got shape {state.shape}")
        inputs = self.processor([obs.image], [obs.task], self.norm.state.normalize(state)[None]).to(self.model.device)
        prefix = plen = None
        if prefix_norm is not None and len(prefix_norm):
            p = np.asarray(prefix_norm, np.float64)
            if p.ndim != 2 or p.shape[1] != self.action_dim or p.shape[0] > self.horizon:
                raise ValueError(f"prefix must be (P <= {self.horizon}, {self.action_dim}), got {p.shape}")
            prefix = torch.from_numpy(p).float()[None]
            plen = torch.tensor([p.shape[0]])
        noise = torch.randn(1, self.horizon, self.action_dim, generator=self.generator, device=self.model.device)
        out = self.model.sample(inputs, self.num_steps, prefix=prefix, prefix_len=plen, noise=noise)
        chunk = out[0].double().cpu().numpy()
        if prefix is not None:
            chunk[: p.shape[0]] = p  # exact, not a float32 round trip
        return chunk

    def warmup(self, obs: Observation, runs: int = 2) -> list[float]:
        """Run a few inferences (cold-start allocations, kernel selection); returns their latencies."""
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.infer(obs, None)
            times.append(time.perf_counter() - t0)
        return times
