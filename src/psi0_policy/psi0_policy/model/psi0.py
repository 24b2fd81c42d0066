"""Psi0Model: Qwen3-VL backbone (System 2) + MM-DiT flow action expert (System 1).

API for training and inference (all actions/states in normalized space,
unpadded: the model pads to its max dims internally):

    model = Psi0Model(cfg)                              # or load_checkpoint(dir)
    ctx = model.encode(inputs)                          # backbone features (reusable across steps)
    out = model(inputs, actions, t, noise=None, loss_mask=None)   # training: FlowLoss
    chunk = model.sample(inputs, num_steps=8, prefix=None, prefix_len=None, noise=None)  # (B, H, A)

See model/flow.py for the time convention (t = 1 clean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from psi0_policy.model import flow
from psi0_policy.model.backbone import Qwen3VLBackbone
from psi0_policy.model.config import Psi0ModelConfig
from psi0_policy.model.expert import ActionExpert
from psi0_policy.model.processor import ModelInputs

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Context:
    """Backbone output for a batch: features (B, L, D), their mask (B, L) and the normalized state (B, S)."""
    features: torch.Tensor
    mask: torch.Tensor
    state: torch.Tensor


@dataclass
class FlowLoss:
    loss: torch.Tensor        # scalar: mean squared velocity error over loss-masked tokens and real dims
    pred: torch.Tensor        # (B, H, A) predicted velocity (real dims)
    target: torch.Tensor      # (B, H, A) target velocity x1 - eps


class Psi0Model(nn.Module):
    def __init__(self, cfg: Psi0ModelConfig, load_pretrained_backbone: bool = True):
        super().__init__()
        self.cfg = cfg
        dtype = DTYPES[cfg.dtype]
        self.backbone = Qwen3VLBackbone(cfg.backbone, load_pretrained=load_pretrained_backbone, dtype=dtype)
        self.expert = ActionExpert(cfg.expert, self.backbone.hidden_size).to(dtype)
        am = torch.zeros(cfg.expert.max_action_dim, dtype=torch.bool)
        am[: cfg.action_dim] = True
        sm = torch.zeros(cfg.expert.max_state_dim, dtype=torch.bool)
        sm[: cfg.state_dim] = True
        self.register_buffer("action_mask", am, persistent=False)
        self.register_buffer("state_mask", sm, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.expert.pos.device

    def _pad(self, x: torch.Tensor, size: int) -> torch.Tensor:
        return torch.nn.functional.pad(x.float(), (0, size - x.shape[-1]))

    def encode(self, inputs: ModelInputs) -> Context:
        """Run the backbone once; the context is reused by every denoising step."""
        if inputs.state.shape[-1] != self.cfg.state_dim:
            raise ValueError(f"state has {inputs.state.shape[-1]} dims, the model expects {self.cfg.state_dim}")
        feats, mask = self.backbone(inputs.pixel_values, inputs.image_grid_thw, inputs.input_ids,
                                    inputs.attention_mask, inputs.mm_token_type_ids)
        return Context(feats, mask, self._pad(inputs.state, self.cfg.expert.max_state_dim))

    def velocity(self, ctx: Context, x_t: torch.Tensor, t_tok: torch.Tensor) -> torch.Tensor:
        """Flow velocity for noisy actions x_t (B, H, A real dims) at per-token times t_tok (B, H)."""
        x = self._pad(x_t, self.cfg.expert.max_action_dim)
        v = self.expert(x, t_tok, ctx.state, self.action_mask, self.state_mask, ctx.features, ctx.mask)
        return v[..., : self.cfg.action_dim]

    def forward(self, inputs: ModelInputs, actions: torch.Tensor, t: torch.Tensor,
                noise: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None,
                action_dim_mask: torch.Tensor | None = None) -> FlowLoss:
        """Flow-matching loss.

        actions: (B, H, action_dim) normalized clean chunk; t: (B, H) per-token time (1 = clean, e.g. from
        flow.sample_times); noise: (B, H, action_dim) or None (drawn); loss_mask: (B, H) bool, tokens that count
        (False on the clean RTC prefix and on padding past an episode's end); action_dim_mask: (B, action_dim)
        or (action_dim,) bool for datasets where some dims are missing."""
        b, h, a = actions.shape
        if (h, a) != (self.cfg.expert.horizon, self.cfg.action_dim):
            raise ValueError(f"actions are ({h}, {a}); the model expects ({self.cfg.expert.horizon}, "
                             f"{self.cfg.action_dim})")
        if t.shape != (b, h):
            raise ValueError(f"t must be (B, H) = {(b, h)}, got {tuple(t.shape)}")
        actions = actions.float()
        noise = torch.randn_like(actions) if noise is None else noise.float()
        x_t = flow.interpolate(actions, noise, t)
        pred = self.velocity(self.encode(inputs), x_t, t)
        target = flow.target_velocity(actions, noise)
        w = torch.ones(b, h, a, device=actions.device)
        if loss_mask is not None:
            w = w * loss_mask.float()[..., None]
        if action_dim_mask is not None:
            w = w * action_dim_mask.float().expand(b, a)[:, None]
        loss = ((pred - target) ** 2 * w).sum() / w.sum().clamp(min=1.0)
        return FlowLoss(loss, pred, target)

    @torch.no_grad()
    def sample(self, inputs: ModelInputs, num_steps: int | None = None, prefix: torch.Tensor | None = None,
               prefix_len: torch.Tensor | None = None, noise: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """K-step Euler sampling of a chunk (B, H, action_dim), normalized.

        prefix: (B, P, action_dim) committed actions (normalized) written in clean at every step;
        prefix_len: (B,) how many of them to use per sample (default all P)."""
        ctx = self.encode(inputs)
        b, h, a = inputs.batch_size, self.cfg.expert.horizon, self.cfg.action_dim
        if noise is None:
            noise = torch.randn(b, h, a, generator=generator, device=self.device if generator is None else
                                generator.device)
        noise = noise.to(self.device).float()
        if prefix is not None:
            prefix = prefix.to(self.device).float()
            if prefix.shape[0] != b or prefix.shape[2] != a:
                raise ValueError(f"prefix must be (B, P, {a}) with B = {b}, got {tuple(prefix.shape)}")
            if prefix_len is not None:
                prefix_len = prefix_len.to(self.device)
        return flow.euler_sample(lambda x, t: self.velocity(ctx, x, t), noise,
                                 num_steps or self.cfg.flow_steps, prefix, prefix_len)
