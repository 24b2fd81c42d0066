"""GPU memory per process estimated from a training config (the model is built on the meta device).

    weights      frozen backbone in bf16 (frozen_backbone_bf16) or fp32; trained weights fp32
    gradients    fp32, trained weights only
    optimizer    AdamW exp_avg + exp_avg_sq, fp32, trained weights only
    activations  per trained transformer layer 34 * tokens * width bytes (bf16, memory-efficient attention;
                 Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"),
                 plus the frozen backbone's output features, plus fp32 logits of the action tokens (stage 1)
Under FSDP weights, gradients and optimizer states are divided by the number of GPUs; under DDP they
are not. Activations are per micro-batch (batch_size / (gpus * grad_accum)). No allocator overhead,
no CUDA context (~0.5-1 GB): treat the total as a lower bound.

When no local Qwen3-VL directory is given, the backbone is built from QWEN3_VL_2B below: the dimensions
of Qwen3-VL-2B-Instruct as we understand its published config (replace with --backbone_path to be sure).
"""
from __future__ import annotations

import dataclasses

import torch

from psi0_training.train.configs import TrainConfig

GB = 1024 ** 3

QWEN3_VL_2B = {
    "model_type": "qwen3_vl", "image_token_id": 151655, "video_token_id": 151656,
    "vision_start_token_id": 151652, "vision_end_token_id": 151653, "tie_word_embeddings": True,
    "vision_config": {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
                      "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "in_channels": 3, "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17]},
    "text_config": {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
                    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
                    "max_position_embeddings": 32768, "tie_word_embeddings": True,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                                        "mrope_section": [24, 20, 20], "mrope_interleaved": True}},
}


def _meta_model(cfg: TrainConfig):
    """(model on the meta device, n image tokens, expert width, expert depth) for the config."""
    from psi0_policy.model import BackboneConfig, Psi0Model, model_config

    if cfg.model_size == "full":
        hf = {} if cfg.backbone_path else QWEN3_VL_2B
        mc = dataclasses.replace(model_config("full", backbone_path=cfg.backbone_path or "unused"),
                                 backbone=BackboneConfig(path=cfg.backbone_path, hf_config=hf, tokenizer="char"))
    else:
        mc = model_config(cfg.model_size)
    mc = dataclasses.replace(mc, dtype="float32", image_height=cfg.image_height, image_width=cfg.image_width,
                             expert=dataclasses.replace(mc.expert, horizon=cfg.horizon),
                             backbone=dataclasses.replace(mc.backbone, frozen=cfg.freeze_backbone and cfg.stage != 1))
    with torch.device("meta"):
        if cfg.stage == 1:
            from psi0_training.train.stage1 import FastVLM
            model = FastVLM(mc.backbone.hf_config, cfg.backbone_path, cfg.fast_vocab_size, load_pretrained=False)
        else:
            model = Psi0Model(mc, load_pretrained_backbone=False)
    patch = 16 * 2
    h, w = round(cfg.image_height / patch) * patch, round(cfg.image_width / patch) * patch
    return model, (h // 16) * (w // 16) // 4, mc


def estimate(cfg: TrainConfig, gpus: int = 8, text_tokens: int = 24) -> dict:
    """Bytes per GPU by category (see module doc) for `gpus` processes."""
    model, img_tokens, mc = _meta_model(cfg)
    params = dict(model.named_parameters())
    trained = {k: p for k, p in params.items() if p.requires_grad and (cfg.stage == 1 or k.startswith("expert.")
                                                                       or not cfg.freeze_backbone)}
    frozen_bytes = 2 if cfg.frozen_backbone_bf16 else 4
    n_all = sum(p.numel() for p in params.values())
    n_tr = sum(p.numel() for p in trained.values())
    shard = gpus if cfg.parallel == "fsdp" else 1
    micro = max(1, cfg.batch_size // (gpus * cfg.grad_accum))
    hf = model.lm.config if cfg.stage == 1 else model.backbone.model.config
    tc, vc = hf.text_config, hf.vision_config
    vl_tokens = img_tokens + 2 + text_tokens
    act = 0.0
    if cfg.stage == 1:
        seq = vl_tokens + cfg.fast_max_tokens
        act += tc.num_hidden_layers * 34 * seq * tc.hidden_size * micro
        act += vc.depth * 34 * img_tokens * 4 * vc.hidden_size * micro
        act += 2 * 4 * cfg.fast_max_tokens * tc.vocab_size * micro      # fp32 logits + their gradient
    else:
        e = mc.expert
        act += e.depth * 34 * (cfg.horizon + 1 + vl_tokens) * e.width * micro
        act += 2 * vl_tokens * tc.hidden_size * micro                    # frozen features (bf16)
        if not cfg.freeze_backbone:
            act += tc.num_hidden_layers * 34 * vl_tokens * tc.hidden_size * micro
    weights = (n_tr * 4 + (n_all - n_tr) * frozen_bytes) / shard
    out = {"params": n_all, "trained_params": n_tr, "micro_batch": micro, "gpus": gpus, "parallel": cfg.parallel,
           "weights": weights, "gradients": n_tr * 4 / shard, "optimizer": n_tr * 8 / shard, "activations": act}
    out["total"] = out["weights"] + out["gradients"] + out["optimizer"] + out["activations"]
    return out


def measure_cuda(cfg: TrainConfig, steps: int = 2) -> float | None:
    """Peak allocated bytes of a few real training steps on one GPU (None without CUDA)."""
    if not torch.cuda.is_available():
        return None
    from psi0_training.train.loop import train
    from psi0_training.train.synthetic import synthetic_split

    torch.cuda.reset_peak_memory_stats()
    run = dataclasses.replace(cfg, steps=steps, device="cuda", progress=False, tensorboard=False,
                              output_dir="/tmp/psi0_mem_probe", resume=False, save_every=10 ** 9, val_episodes=0)
    data = synthetic_split(cfg.horizon, n_train=2, n_val=0, length=max(cfg.batch_size, 64),
                           action_dim=cfg.action_dim, state_dim=cfg.state_dim,
                           image_hw=(cfg.image_height, cfg.image_width))
    train(run, data[0], None, data[2], say=lambda *a: None)
    return float(torch.cuda.max_memory_allocated())
