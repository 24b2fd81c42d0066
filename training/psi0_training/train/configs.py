"""Typed training configs of the three Psi0 stages, in a named registry.

    cfg = get_config("debug_stage3", {"steps": 10, "lr": 3e-4})   # overrides are validated
    psi0 train debug_stage3 --steps 10 --lr 3e-4

Stage 1 (VLM pre-training): the Qwen3-VL backbone learns to predict FAST
tokens (DCT + BPE) of the next task-space (48-D) action chunk.
Stage 2 (post-training): the backbone frozen, the MM-DiT action expert learns
flow matching on joint-space data (36-D action, 32-D state) with
training-time RTC.
Stage 3 (fine-tuning): like stage 2 on one converted task dataset, from a
stage-2 checkpoint, cosine LR from 1e-4, min/max normalization.

`debug_*` entries are tiny random CPU models that train in seconds; `full_*`
entries are the Psi0 sizes (need a local Qwen3-VL-2B directory and GPUs).
Values marked "(ours)" in the field docs are not published by Psi0.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from psi0_common.config import ConfigError, did_you_mean, from_mapping, param, specs, validate


@dataclass(frozen=True)
class TrainConfig:
    name: str = param("custom", "registry name this config came from (informational)")
    stage: int = param(3, "Psi0 stage: 1 VLM FAST pre-training, 2 expert post-training, 3 fine-tuning",
                       choices=(1, 2, 3))
    # --- model
    model_size: str = param("tiny", "psi0_policy model size (tiny/small/mid are random CPU models, full = Psi0)",
                            choices=("tiny", "small", "mid", "full"))
    backbone_path: str = param("", "local Qwen3-VL directory, or a stage-1 checkpoint directory (from_pretrained, "
                                   "no download); empty = random backbone (tiny/mid only)")
    init_checkpoint: str = param("", "stage 2/3: psi0 checkpoint directory to start from (e.g. a stage-2 "
                                     "checkpoints/<step>); its weights replace the fresh model's")
    freeze_backbone: bool = param(True, "stage 2/3: keep the VLM frozen (Psi0); False also trains the backbone")
    frozen_backbone_bf16: bool = param(False, "store a frozen backbone in bf16 to save memory (CUDA runs)")
    image_height: int = param(240, "model input image height before the processor's resize (px)", low=32, high=2048)
    image_width: int = param(320, "model input image width (px)", low=32, high=2048)
    horizon: int = param(30, "H: actions per chunk (Psi0: 30 at 30 Hz)", low=1, high=256)
    action_dim: int = param(36, "real action dims: 48 task space (stage 1), 36 joint space (stages 2, 3)",
                            low=1, high=256)
    state_dim: int = param(32, "real state dims (stages 2, 3; stage 1 uses no state)", low=1, high=256)
    # --- data
    dataset: str = param("", "dataset directory written by `psi0 convert` (LeRobot-v3 layout with meta/stats.json)")
    val_episodes: int = param(1, "last N episodes held out for validation (0 = no validation)", low=0)
    num_workers: int = param(0, "DataLoader worker processes (0 = load in the training process)", low=0, high=64)
    prefetch_factor: int = param(4, "batches each worker loads ahead", low=1, high=64)
    normalization: str = param("minmax", "action/state normalization from meta/stats.json: minmax -> [-1, 1] "
                                         "(Psi0 fine-tuning), meanstd, quantile (q01/q99 -> [-1, 1], clipped; "
                                         "FAST / stage 1)", choices=("minmax", "meanstd", "quantile"))
    # --- optimization
    steps: int = param(40_000, "optimizer steps", low=1)
    batch_size: int = param(128, "global batch per optimizer step (all processes and accumulation steps)", low=1)
    grad_accum: int = param(1, "micro-batches accumulated per optimizer step (per process)", low=1)
    lr: float = param(1e-4, "peak learning rate (AdamW)", low=0.0, high=1.0)
    min_lr_ratio: float = param(0.0, "cosine floor as a fraction of lr", low=0.0, high=1.0)
    warmup_steps: int = param(1000, "linear warm-up steps from 0 to lr (ours)", low=0)
    schedule: str = param("cosine", "learning-rate schedule after warm-up", choices=("cosine", "constant"))
    weight_decay: float = param(1e-4, "AdamW weight decay (ours)", low=0.0, high=1.0)
    beta1: float = param(0.9, "AdamW beta1", low=0.0, high=1.0)
    beta2: float = param(0.95, "AdamW beta2 (ours)", low=0.0, high=1.0)
    grad_clip: float = param(1.0, "clip the global gradient norm to this (0 = off)", low=0.0)
    # --- flow matching / RTC (stages 2, 3)
    max_delay: int = param(8, "training-time RTC: prefix d ~ U{0..max_delay-1} kept clean and out of the loss "
                              "(Psi0: 8; 0 = plain flow matching)", low=0, high=256)
    time_distribution: str = param("uniform", "flow time of the noisy tokens: uniform (Psi0) or beta (GR00T "
                                              "Beta(1.5, 1))", choices=("uniform", "beta"))
    flow_steps: int = param(8, "Euler steps of the open-loop evaluation (Psi0 deploys 8)", low=1, high=128)
    image_shift: float = param(0.0, "random-shift augmentation (stages 2, 3): each training image is shifted by up "
                                    "to this fraction of its height and width, edge pixels repeated, a new shift "
                                    "per sample and step (DrQ, Diffusion Policy); validation is never shifted. "
                                    "0 = off", low=0.0, high=0.25)
    # --- FAST tokenizer (stage 1)
    fast_vocab_size: int = param(2048, "FAST BPE vocabulary (Psi0: 2048)", low=16, high=65536)
    fast_scale: float = param(100.0, "FAST: DCT coefficients are multiplied by this before rounding (Psi0: 100)",
                              low=1e-3)
    fast_fit_samples: int = param(500_000, "actions (chunk rows) the FAST tokenizer is fitted on (Psi0: 500k)",
                                  low=1)
    fast_max_tokens: int = param(256, "longest FAST token sequence of a chunk (longer ones are cut; counted)",
                                 low=4, high=8192)
    # --- runtime
    seed: int = param(0, "seed of weights, data order and flow noise", low=0)
    device: str = param("auto", "auto (cuda if available), cpu, cuda", choices=("auto", "cpu", "cuda"))
    precision: str = param("fp32", "fp32, or bf16 autocast (CUDA)", choices=("fp32", "bf16"))
    parallel: str = param("ddp", "under torchrun: ddp (replicated, action expert) or fsdp (sharded, full "
                                 "backbone); ignored in one process", choices=("ddp", "fsdp"))
    output_dir: str = param("", "run directory (checkpoints/, tensorboard/); empty = runs/<name>")
    resume: bool = param(True, "continue from the newest complete checkpoint in output_dir if there is one")
    log_every: int = param(10, "steps between scalar logs", low=1)
    eval_every: int = param(1000, "steps between validations (0 = only at the end)", low=0)
    eval_batches: int = param(4, "validation batches per evaluation", low=1)
    save_every: int = param(5000, "steps between checkpoints (the last step is always saved)", low=1)
    keep_last: int = param(3, "checkpoints kept (older ones are deleted)", low=1)
    tensorboard: bool = param(True, "write TensorBoard event files to <output_dir>/tensorboard")
    wandb: bool = param(False, "also log to Weights & Biases when the package is installed")
    wandb_project: str = param("psi0", "W&B project")
    progress: bool = param(True, "tqdm progress bar")

    def __post_init__(self):
        validate(self)
        if self.stage == 1 and self.normalization != "quantile":
            raise ConfigError(f"{self.name}: stage 1 (FAST) needs normalization 'quantile', got {self.normalization!r}")
        if self.stage in (2, 3) and (self.action_dim, self.state_dim) != (36, 32):
            raise ConfigError(f"{self.name}: stages 2/3 train the 36-D action / 32-D state of the Psi0 layout, "
                              f"got action_dim {self.action_dim}, state_dim {self.state_dim}")
        if self.stage in (2, 3) and self.max_delay >= self.horizon:
            raise ConfigError(f"{self.name}: max_delay {self.max_delay} must be < horizon {self.horizon}")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"{self.name}: batch_size {self.batch_size} is not divisible by grad_accum "
                              f"{self.grad_accum}")

    def check_runnable(self) -> None:
        """Checks that need the environment, not only the values (run before training starts)."""
        if self.model_size == "full" and not self.backbone_path and not self.init_checkpoint:
            raise ConfigError(f"{self.name}: model_size 'full' needs --backbone_path (a local Qwen3-VL-2B-Instruct "
                              "directory or a stage-1 checkpoint; weights cannot be downloaded) or --init_checkpoint")

    @property
    def run_dir(self) -> str:
        return self.output_dir or f"runs/{self.name}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return from_mapping(cls, json.loads(text), "config.json: ")


_DEBUG = dict(model_size="tiny", image_height=64, image_width=64, steps=20, batch_size=8, warmup_steps=2,
              lr=1e-3, log_every=1, eval_every=10, eval_batches=2, save_every=10, device="cpu", num_workers=0,
              val_episodes=1, keep_last=2)

REGISTRY: dict[str, TrainConfig] = {
    "debug_stage1": TrainConfig(name="debug_stage1", stage=1, action_dim=48, normalization="quantile",
                                fast_vocab_size=512, fast_scale=4.0, fast_fit_samples=2000, fast_max_tokens=96,
                                horizon=5, **_DEBUG),
    "debug_stage2": TrainConfig(name="debug_stage2", stage=2, normalization="meanstd", **_DEBUG),
    "debug_stage3": TrainConfig(name="debug_stage3", stage=3, **_DEBUG),
    # The end-to-end demo (docs/demo.md): stage 3 of the `small` CPU model (6.3M parameters) on 20-60 scripted
    # sim demonstrations, ~0.37 s per step on 2 CPU cores (5000 steps: ~31 min). The backbone is random, so
    # it is trained too (Psi0 freezes its pre-trained VLM); 128x160 images (20 vision tokens) keep a step
    # cheap. Steps/batch/LR are ours.
    # max_delay 14 (Psi0: 8): in the sim graph on 2 cores the small model's latency is ~230 ms mean, up to
    # ~900 ms, so RTC's delay estimate (max of the last 6) reaches 8-15 control steps; 14 < s_min 15 keeps
    # at least one fresh action after the longest prefix.
    # image_shift 0.04 (~5 px of the 120x160 model input): 20-60 demonstrations from one camera pose.
    "sim_stage3": TrainConfig(name="sim_stage3", stage=3, model_size="small", freeze_backbone=False, max_delay=14,
                              image_shift=0.04,
                              image_height=120, image_width=160, steps=5000, batch_size=32, lr=1e-3,
                              min_lr_ratio=0.05, warmup_steps=100, device="cpu", num_workers=1, val_episodes=2,
                              log_every=20, eval_every=500, eval_batches=4, save_every=500, keep_last=2),
    # The second phase of the demo's training (round 3 in docs/demo.md): fine-tune a sim_stage3 checkpoint
    # (--init_checkpoint) at the camera's full 240x320 (80 vision tokens instead of 20; the Qwen3-VL vision
    # tower interpolates its position embeddings, so the weights carry over). ~0.9 s per step (2500: ~38 min).
    "sim_stage3_hires": TrainConfig(name="sim_stage3_hires", stage=3, model_size="small", freeze_backbone=False,
                                    max_delay=14, image_shift=0.04, image_height=240, image_width=320,
                                    steps=2500, batch_size=32, lr=5e-4, min_lr_ratio=0.05, warmup_steps=50,
                                    device="cpu", num_workers=1, val_episodes=2, log_every=20, eval_every=500,
                                    eval_batches=4, save_every=500, keep_last=2),
    # Psi0 stage 1: Qwen3-VL-2B, FAST vocab 2048 / scale 100 fitted on 500k actions, quantile normalization,
    # 48-D task space. Steps, batch and LR are ours (not published with the numbers above).
    "full_stage1": TrainConfig(name="full_stage1", stage=1, model_size="full", action_dim=48, grad_accum=2,
                               normalization="quantile", freeze_backbone=False, fast_max_tokens=512,
                               steps=100_000, batch_size=256,
                               lr=5e-5, warmup_steps=2000, precision="bf16", parallel="fsdp", num_workers=8,
                               eval_every=2000, save_every=5000),
    # Psi0 stage 2: frozen VLM, ~500M MM-DiT expert, joint space 36/32-D, RTC max delay 8. Steps/batch/LR ours.
    "full_stage2": TrainConfig(name="full_stage2", stage=2, model_size="full", normalization="meanstd",
                               steps=100_000, batch_size=256, lr=1e-4, warmup_steps=2000, precision="bf16",
                               frozen_backbone_bf16=True, num_workers=8, eval_every=2000, save_every=5000),
    # Psi0 stage 3: per-task fine-tuning, 40k steps, batch 128, cosine from 1e-4, min/max normalization.
    "full_stage3": TrainConfig(name="full_stage3", stage=3, model_size="full", normalization="minmax",
                               steps=40_000, batch_size=128, lr=1e-4, warmup_steps=1000, precision="bf16",
                               frozen_backbone_bf16=True, num_workers=8, eval_every=2000, save_every=5000),
}


def get_config(name: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The registry entry `name` with `overrides` applied and validated (unknown keys get a suggestion)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown training config {name!r}{did_you_mean(name, REGISTRY)}; "
                          f"known: {', '.join(REGISTRY)}")
    base = REGISTRY[name]
    if not overrides:
        return base
    merged = {**asdict(base), **{k: _as_field_type(k, v) for k, v in overrides.items()}}
    unknown = [k for k in overrides if k not in asdict(base)]
    if unknown:
        k = unknown[0]
        raise ConfigError(f"{name}: unknown key {k!r}{did_you_mean(k, asdict(base))}")
    return from_mapping(TrainConfig, merged, f"{name}: ")


def _as_field_type(key: str, value: Any) -> Any:
    """Command-line strings YAML leaves as str ('3e-4') or numbers given for a str field ('--name 7')."""
    spec = next((s for s in specs(TrainConfig) if s.name == key), None)
    if spec is None:
        return value
    try:
        if spec.type is float and isinstance(value, str):
            return float(value)
        if spec.type is int and isinstance(value, str):
            return int(value)
    except ValueError:
        return value  # from_mapping reports the type error
    if spec.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """`--key value` / `--key=value` pairs -> {key: value}; values are parsed as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise ConfigError(f"expected --key value, got {tok!r}")
        key = tok[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens):
                raise ConfigError(f"--{key} needs a value")
            raw = tokens[i + 1]
            i += 2
        key = key.replace("-", "_")
        out[key] = yaml.safe_load(raw) if raw != "" else ""
        if isinstance(out[key], (dict, list)) or out[key] is None:
            out[key] = raw  # a string that happens to look like YAML
    return out


def with_updates(cfg: TrainConfig, **changes) -> TrainConfig:
    return replace(cfg, **changes)
