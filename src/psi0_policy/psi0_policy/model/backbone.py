"""System 2: the Qwen3-VL vision-language backbone (transformers).

Built either from a local Qwen3-VL directory (`from_pretrained`, nothing is
downloaded) or from a Qwen3VLConfig dict with random weights (tiny/mid
sizes). Only `Qwen3VLModel` (vision tower + text decoder) is kept: the LM
head is dropped, and so are the decoder layers after `feature_layer`, so the
features are the final-normed output of the first `feature_layer` layers.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from psi0_policy.model.config import BackboneConfig


def _truncate(model: nn.Module, feature_layer: int) -> None:
    lm = model.language_model
    n = len(lm.layers)
    if feature_layer == -1 or feature_layer == n:
        return
    if not 1 <= feature_layer <= n:
        raise ValueError(f"backbone.feature_layer {feature_layer} is outside 1..{n} (or -1 for all)")
    lm.layers = lm.layers[:feature_layer]
    lm.config.num_hidden_layers = feature_layer
    if hasattr(lm.config, "layer_types") and lm.config.layer_types:
        lm.config.layer_types = lm.config.layer_types[:feature_layer]


def hf_config_from(cfg: BackboneConfig):
    from transformers import Qwen3VLConfig
    if cfg.path:
        return Qwen3VLConfig.from_pretrained(cfg.path)
    if not cfg.hf_config:
        raise ValueError("backbone needs either a local `path` or an `hf_config`")
    return Qwen3VLConfig(**copy.deepcopy(cfg.hf_config))


class Qwen3VLBackbone(nn.Module):
    """Image + text -> (B, L, hidden) features and their (B, L) mask."""

    def __init__(self, cfg: BackboneConfig, load_pretrained: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        from transformers import Qwen3VLForConditionalGeneration, Qwen3VLModel

        if cfg.path and load_pretrained:
            full = Qwen3VLForConditionalGeneration.from_pretrained(cfg.path, dtype=dtype, local_files_only=True)
            self.model = full.model
            del full
        else:
            hf = hf_config_from(cfg)
            hf._attn_implementation = "sdpa"
            self.model = Qwen3VLModel(hf).to(dtype)
        _truncate(self.model, cfg.feature_layer)
        self.hidden_size = int(self.model.config.text_config.hidden_size)
        self.frozen = cfg.frozen
        if cfg.frozen:
            self.model.requires_grad_(False)
            self.model.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.model.eval()  # a frozen backbone never runs dropout
        return self

    def hf_config_dict(self) -> dict:
        d = self.model.config.to_dict()
        for k in ("transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"):
            d.pop(k, None)
        for sub in ("text_config", "vision_config"):
            for k in ("transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"):
                d.get(sub, {}).pop(k, None)
        return d

    def forward(self, pixel_values, image_grid_thw, input_ids, attention_mask, mm_token_type_ids):
        ctx = torch.no_grad() if self.frozen else torch.enable_grad()
        with ctx:
            self.model.rope_deltas = None  # cached M-RoPE deltas from a previous batch must not leak in
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixel_values,
                             image_grid_thw=image_grid_thw, mm_token_type_ids=mm_token_type_ids, use_cache=False)
        return out.last_hidden_state, attention_mask.bool()
