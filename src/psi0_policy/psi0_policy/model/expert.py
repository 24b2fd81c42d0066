"""System 1: the flow-matching MM-DiT action expert (Stable Diffusion 3 style).

Two token streams, each with its own weights: the action stream (one state
token + H action tokens) and the vision-language stream (projected backbone
features). Every block modulates each stream with its own adaptive norm
(shift, scale, gate for attention and MLP), then runs one joint attention
over the concatenation of both streams, then each stream's own MLP.

Per-token flow time: every action token carries its own time t_i and its
modulation is computed from t_i (plus the pooled VL vector), so an RTC
prefix token can be clean (t = 1) while the rest of the chunk is noisy. The
state token is always clean (t = 1). The VL stream is modulated by the
sample's noise time (the smallest t over its action tokens) plus the pooled
VL vector.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from psi0_policy.model.config import ExpertConfig


def time_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of flow time in [0, 1] (scaled by 1000), any leading shape."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Mlp(nn.Sequential):
    def __init__(self, width: int, ratio: float):
        hidden = int(width * ratio)
        super().__init__(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))


class StreamWeights(nn.Module):
    """One stream's half of an MM-DiT block: adaLN modulation, qkv, output projection, MLP."""

    def __init__(self, width: int, heads: int, ratio: float):
        super().__init__()
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.q_norm = nn.RMSNorm(width // heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(width // heads, eps=1e-6)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, ratio)
        self.heads = heads
        nn.init.zeros_(self.ada[1].weight)  # adaLN-Zero: each block starts as identity
        nn.init.zeros_(self.ada[1].bias)

    def pre_attention(self, x, cond):
        mods = self.ada(cond).chunk(6, dim=-1)
        h = modulate(self.norm1(x), mods[0], mods[1])
        b, n, w = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, w // self.heads).unbind(2)
        return self.q_norm(q), self.k_norm(k), v, mods

    def post_attention(self, x, attn_out, mods):
        x = x + mods[2] * self.proj(attn_out)
        return x + mods[5] * self.mlp(modulate(self.norm2(x), mods[3], mods[4]))


class MMDiTBlock(nn.Module):
    def __init__(self, cfg: ExpertConfig):
        super().__init__()
        self.act = StreamWeights(cfg.width, cfg.heads, cfg.mlp_ratio)
        self.ctx = StreamWeights(cfg.width, cfg.heads, cfg.mlp_ratio)

    def forward(self, x, c, cond_x, cond_c, key_mask):
        """x: (B, Na, W) action stream; c: (B, Nc, W) VL stream; cond_*: broadcastable to each stream;
        key_mask: (B, Na + Nc) bool, True = attend."""
        qa, ka, va, ma = self.act.pre_attention(x, cond_x)
        qc, kc, vc, mc = self.ctx.pre_attention(c, cond_c)
        q, k, v = (torch.cat(p, dim=1).transpose(1, 2) for p in ((qa, qc), (ka, kc), (va, vc)))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
        out = out.transpose(1, 2).flatten(2)
        na = x.shape[1]
        return self.act.post_attention(x, out[:, :na], ma), self.ctx.post_attention(c, out[:, na:], mc)


class ActionExpert(nn.Module):
    """Predicts the flow velocity of every action token (padded dims included; mask them)."""

    def __init__(self, cfg: ExpertConfig, vl_dim: int):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        # Projectors see the padded vector and its validity mask, so padding is never mistaken for zeros.
        self.action_in = nn.Linear(2 * cfg.max_action_dim, w)
        self.state_in = nn.Linear(2 * cfg.max_state_dim, w)
        self.vl_in = nn.Sequential(nn.LayerNorm(vl_dim), nn.Linear(vl_dim, w))
        self.pos = nn.Parameter(torch.zeros(1, cfg.horizon + 1, w))
        nn.init.normal_(self.pos, std=0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.pool_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList([MMDiTBlock(cfg) for _ in range(cfg.depth)])
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.out = nn.Linear(w, cfg.max_action_dim)
        nn.init.zeros_(self.final_ada[1].weight)
        nn.init.zeros_(self.final_ada[1].bias)

    def forward(self, x_t, t_tok, state, action_mask, state_mask, vl, vl_mask):
        """x_t: (B, H, Amax) noisy actions; t_tok: (B, H) per-token time (1 = clean); state: (B, Smax);
        action_mask: (Amax,) or (B, Amax) bool of real action dims; state_mask likewise; vl: (B, L, D)
        backbone features; vl_mask: (B, L) bool. Returns velocity (B, H, Amax)."""
        b, h, _ = x_t.shape
        dt = self.pos.dtype
        am = action_mask.to(dt).expand(b, -1)
        sm = state_mask.to(dt).expand(b, -1)
        a_tok = self.action_in(torch.cat([x_t.to(dt) * am[:, None], am[:, None].expand(-1, h, -1)], dim=-1))
        s_tok = self.state_in(torch.cat([state.to(dt) * sm, sm], dim=-1))[:, None]
        x = torch.cat([s_tok, a_tok], dim=1) + self.pos[:, : h + 1]
        c = self.vl_in(vl.to(dt))
        vm = vl_mask.to(dt)[..., None]
        pooled = self.pool_mlp((c * vm).sum(1) / vm.sum(1).clamp(min=1.0))        # (B, W)
        t_all = torch.cat([torch.ones_like(t_tok[:, :1]), t_tok], dim=1)          # state token is clean
        cond_x = self.time_mlp(time_embedding(t_all, self.cfg.width).to(dt)) + pooled[:, None]
        t_noise = t_tok.min(dim=1).values
        cond_c = (self.time_mlp(time_embedding(t_noise, self.cfg.width).to(dt)) + pooled)[:, None]
        key_mask = torch.cat([torch.ones(b, h + 1, dtype=torch.bool, device=x.device), vl_mask.bool()], dim=1)
        for blk in self.blocks:
            x, c = blk(x, c, cond_x, cond_c, key_mask)
        shift, scale = self.final_ada(cond_x).chunk(2, dim=-1)
        v = self.out(modulate(self.final_norm(x), shift, scale))[:, 1:]
        return v.float() * action_mask.float().expand(b, -1)[:, None]
