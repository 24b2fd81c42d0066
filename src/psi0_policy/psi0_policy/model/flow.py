"""The one flow-matching convention of psi0, and the Euler sampler.

Convention (rectified flow, clean = 1):
    x_t = t * x_1 + (1 - t) * eps,   eps ~ N(0, I),   t in [0, 1]
    t = 0 is pure noise, t = 1 is the clean (normalized) action.
    target velocity v = x_1 - eps;   sampling integrates dx/dt = v from t = 0 to 1.
Per-token time: t has shape (B, H). A committed RTC prefix has t = 1 and its
tokens equal the committed actions; the rest of the chunk shares one time.
Training-time RTC: per sample draw d in {0..max_delay-1}, set t = 1 on the
first d tokens and mask them out of the loss; draw the shared time of the
others uniformly (Psi0) or from Beta(1.5, 1) (GR00T N1), see `sample_times`.
"""
from __future__ import annotations

from typing import Callable

import torch


def interpolate(x1: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for per-token time t (B, H) and actions (B, H, A)."""
    t = t[..., None].to(x1.dtype)
    return t * x1 + (1 - t) * eps


def target_velocity(x1: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return x1 - eps


def prefix_mask(prefix_len: torch.Tensor, horizon: int) -> torch.Tensor:
    """(B,) lengths -> (B, H) bool, True on the first prefix_len[b] tokens."""
    return torch.arange(horizon, device=prefix_len.device)[None] < prefix_len[:, None]


def sample_times(batch: int, horizon: int, max_delay: int, *, distribution: str = "uniform",
                 generator: torch.Generator | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training-time RTC times: returns (t (B, H), loss_mask (B, H) bool).

    d ~ U{0..max_delay-1} per sample; the first d tokens get t = 1 (clean, out of the loss); the rest share
    one time tau ~ U(0, 1) (or Beta(1.5, 1)). max_delay = 0 gives plain flow matching (no prefix)."""
    if distribution == "uniform":
        tau = torch.rand(batch, generator=generator, device=device)
    elif distribution == "beta":
        u = torch.rand(batch, generator=generator, device=device)
        tau = u ** (1 / 1.5)  # inverse CDF of Beta(1.5, 1)
    else:
        raise ValueError(f"unknown time distribution {distribution!r} (uniform | beta)")
    if max_delay > 0:
        d = torch.randint(0, max_delay, (batch,), generator=generator, device=device)
    else:
        d = torch.zeros(batch, dtype=torch.long, device=device)
    pm = prefix_mask(d, horizon)
    t = torch.where(pm, torch.ones(()), tau[:, None].expand(-1, horizon))
    return t, ~pm


VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def euler_sample(velocity: VelocityFn, noise: torch.Tensor, num_steps: int,
                 prefix: torch.Tensor | None = None, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
    """K-step Euler integration from t = 0 (noise) to t = 1.

    velocity(x_t, t_tok) -> v with x_t (B, H, A), t_tok (B, H). With a prefix (B, P, A) and prefix_len (B,)
    (<= P), the first prefix_len tokens are written into the sample with t = 1 before every step and at the
    end (training-time RTC inference), so they come out exactly equal to the prefix."""
    if num_steps < 1:
        raise ValueError("num_steps must be >= 1")
    b, h, _ = noise.shape
    x = noise.clone()
    if prefix is not None:
        if prefix_len is None:
            prefix_len = torch.full((b,), prefix.shape[1], dtype=torch.long, device=noise.device)
        if prefix.shape[1] > h or (int(prefix_len.max()) if prefix_len.numel() else 0) > prefix.shape[1]:
            raise ValueError(f"prefix of {prefix.shape[1]} (lengths {prefix_len.tolist()}) does not fit horizon {h}")
        pm = prefix_mask(prefix_len.to(noise.device), h)
        full_prefix = torch.zeros_like(x)
        full_prefix[:, : prefix.shape[1]] = prefix.to(x.dtype)
    else:
        pm = torch.zeros(b, h, dtype=torch.bool, device=noise.device)
        full_prefix = x
    dt = 1.0 / num_steps
    for k in range(num_steps):
        tau = k * dt
        x = torch.where(pm[..., None], full_prefix, x)
        t_tok = torch.where(pm, torch.ones((), device=x.device), torch.full((), tau, device=x.device))
        x = x + dt * velocity(x, t_tok.expand(b, h))
    return torch.where(pm[..., None], full_prefix, x)
