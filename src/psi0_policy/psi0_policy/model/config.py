"""Model configuration of the Psi0 policy: backbone, action expert, sizes.

A `Psi0ModelConfig` is plain data (JSON in a checkpoint's config.json). Three
named sizes: `full` (Qwen3-VL-2B from a local directory + ~0.5B MM-DiT expert,
bf16 on CUDA), `mid` (random CPU model for benchmarks) and `tiny` (random CPU
model for tests and smoke runs).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from psi0_common.action_layout import ACTION_DIM, STATE_DIM
from psi0_common.config import ConfigError, did_you_mean


@dataclass(frozen=True)
class BackboneConfig:
    # Local directory of a Qwen3-VL checkpoint (from_pretrained); empty = random weights built from `hf_config`.
    path: str = ""
    # transformers Qwen3VLConfig as a dict (vision_config/text_config, token ids); filled from `path` when loading.
    hf_config: dict = field(default_factory=dict)
    # Features are the (final-normed) output of the first `feature_layer` text decoder layers; later layers
    # are dropped at build time. -1 keeps every layer.
    feature_layer: int = -1
    # Frozen backbone (Psi0 stages 2 and 3); when False its weights get gradients too.
    frozen: bool = True
    # Text tokenizer: "char" = byte-level tokenizer built locally (tiny/mid), "qwen" = the processor of `path`.
    tokenizer: str = "char"


@dataclass(frozen=True)
class ExpertConfig:
    width: int = 64          # hidden size of both streams
    depth: int = 2           # MM-DiT blocks
    heads: int = 2           # attention heads (joint attention over both streams)
    mlp_ratio: float = 4.0   # MLP hidden = width * mlp_ratio
    max_action_dim: int = 48  # actions are zero-padded to this many dims (mask marks the real ones)
    max_state_dim: int = 48   # state is zero-padded to this many dims
    horizon: int = 30        # H: actions per chunk


@dataclass(frozen=True)
class Psi0ModelConfig:
    size: str = "tiny"
    backbone: BackboneConfig = BackboneConfig()
    expert: ExpertConfig = ExpertConfig()
    action_dim: int = ACTION_DIM   # real action dims (36, Psi0 layout)
    state_dim: int = STATE_DIM     # real state dims (32)
    image_height: int = 240        # camera image the processor expects (resized to the patch grid)
    image_width: int = 320
    max_text_tokens: int = 64      # task text is truncated to this many tokens
    flow_steps: int = 8            # default K Euler steps at inference
    dtype: str = "float32"         # float32 | bfloat16 | float16 (weights and compute)

    def __post_init__(self):
        e = self.expert
        if self.action_dim > e.max_action_dim or self.state_dim > e.max_state_dim:
            raise ConfigError(f"action_dim {self.action_dim} / state_dim {self.state_dim} exceed the expert's "
                              f"max dims {e.max_action_dim} / {e.max_state_dim}")
        if e.width % e.heads:
            raise ConfigError(f"expert width {e.width} is not divisible by heads {e.heads}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype {self.dtype!r} is not one of float32, bfloat16, float16")
        if self.backbone.tokenizer not in ("char", "qwen"):
            raise ConfigError(f"backbone.tokenizer {self.backbone.tokenizer!r} is not 'char' or 'qwen'")
        if self.flow_steps < 1 or e.horizon < 1:
            raise ConfigError("flow_steps and horizon must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Psi0ModelConfig":
        d = dict(d)
        try:
            bb = BackboneConfig(**d.pop("backbone", {}))
            ex = ExpertConfig(**d.pop("expert", {}))
            return cls(backbone=bb, expert=ex, **d)
        except TypeError as exc:
            raise ConfigError(f"model config: {exc}") from exc


# Byte-level char tokenizer (model/text.py): 256 bytes + these specials, in this order.
CHAR_SPECIALS = ("<pad>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>")
CHAR_VOCAB = 256 + len(CHAR_SPECIALS)


def _random_qwen_config(vision_hidden: int, vision_depth: int, vision_heads: int, text_hidden: int,
                        text_layers: int, text_heads: int, kv_heads: int) -> dict:
    """A small Qwen3VLConfig dict whose token ids match the char tokenizer."""
    head_dim = text_hidden // text_heads
    return {
        "model_type": "qwen3_vl",
        "image_token_id": 256 + CHAR_SPECIALS.index("<|image_pad|>"),
        "video_token_id": 256 + CHAR_SPECIALS.index("<|image_pad|>"),  # videos are not used
        "vision_start_token_id": 256 + CHAR_SPECIALS.index("<|vision_start|>"),
        "vision_end_token_id": 256 + CHAR_SPECIALS.index("<|vision_end|>"),
        "tie_word_embeddings": False,
        "vision_config": {
            "depth": vision_depth, "hidden_size": vision_hidden, "intermediate_size": vision_hidden * 2,
            "num_heads": vision_heads, "out_hidden_size": text_hidden, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3,
            "num_position_embeddings": 256, "deepstack_visual_indexes": [0],
        },
        "text_config": {
            "hidden_size": text_hidden, "intermediate_size": text_hidden * 2, "num_hidden_layers": text_layers,
            "num_attention_heads": text_heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
            "vocab_size": CHAR_VOCAB, "max_position_embeddings": 2048, "pad_token_id": 256,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [head_dim // 8, head_dim * 3 // 16, head_dim * 3 // 16],
                                "mrope_interleaved": True},
        },
    }


def model_config(size: str, backbone_path: str = "", **overrides) -> Psi0ModelConfig:
    """The named size: `tiny`, `mid` or `full` (full needs `backbone_path`, a local Qwen3-VL-2B dir)."""
    if size == "tiny":
        cfg = Psi0ModelConfig(
            size="tiny",
            backbone=BackboneConfig(hf_config=_random_qwen_config(32, 1, 2, 64, 2, 2, 1), feature_layer=-1),
            expert=ExpertConfig(width=64, depth=2, heads=2))
    elif size == "small":   # the end-to-end sim demo: a wider expert and a 2-layer vision tower, ~60 ms on CPU
        cfg = Psi0ModelConfig(
            size="small",
            backbone=BackboneConfig(hf_config=_random_qwen_config(64, 2, 2, 128, 2, 2, 1), feature_layer=-1),
            expert=ExpertConfig(width=192, depth=4, heads=4))
    elif size == "mid":
        cfg = Psi0ModelConfig(
            size="mid",
            backbone=BackboneConfig(hf_config=_random_qwen_config(128, 2, 4, 256, 4, 4, 2), feature_layer=-1),
            expert=ExpertConfig(width=384, depth=6, heads=6))
    elif size == "full":
        if not backbone_path:
            raise ConfigError("size 'full' needs backbone_path: a local Qwen3-VL-2B-Instruct directory "
                              "(weights cannot be downloaded here)")
        # ~0.5B expert: 14 blocks x 2 streams x ~18 width^2 parameters at width 1024.
        cfg = Psi0ModelConfig(
            size="full", dtype="bfloat16",
            backbone=BackboneConfig(path=backbone_path, feature_layer=-1, tokenizer="qwen"),
            expert=ExpertConfig(width=1024, depth=14, heads=16))
    else:
        raise ConfigError(f"unknown model size {size!r}{did_you_mean(size, ('tiny', 'small', 'mid', 'full'))}")
    return replace(cfg, **overrides) if overrides else cfg
