"""Stages 2 and 3: flow matching of the MM-DiT action expert with training-time RTC.

Uses the model's own API (psi0_policy.model): `Psi0Model(inputs, actions, t, noise, loss_mask)` for the
loss, `flow.sample_times` for the RTC prefix and flow time, `Psi0Model.sample` for open-loop evaluation,
`save_checkpoint` for the policy-loadable checkpoint files.

Per-sample randomness (RTC delay d, flow time, noise) is drawn for the whole global batch from a generator
seeded by (seed, step) and sliced by sample position, so it is the same whatever the number of processes
or accumulation steps, and a resumed run draws what a straight run draws.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from psi0_common.config import ConfigError
from psi0_policy.model import Psi0Model, Psi0Processor, flow, model_config, read_config, save_checkpoint
from psi0_training.train.batches import FlowCollate, model_inputs, norm_stats_from
from psi0_training.train.configs import TrainConfig


def step_randomness(cfg: TrainConfig, step: int, batch: int, salt: int = 0, augment: bool = True):
    """(t (B, H), rtc_loss_mask (B, H), noise (B, H, A), image shifts (B, 2) in [-1, 1] or None) for a global
    batch of `batch` samples; no shifts when the config has no image_shift or augment is False (validation)."""
    g = torch.Generator().manual_seed(cfg.seed * 7_919 + step * 2 + salt)
    t, lm = flow.sample_times(batch, cfg.horizon, cfg.max_delay, distribution=cfg.time_distribution, generator=g)
    noise = torch.randn(batch, cfg.horizon, cfg.action_dim, generator=g)
    shifts = torch.rand(batch, 2, generator=g) * 2 - 1 if augment and cfg.image_shift > 0 else None
    return t, lm, noise, shifts


def _model_config(cfg: TrainConfig):
    if cfg.init_checkpoint:
        mc = read_config(cfg.init_checkpoint)
    elif cfg.model_size == "full":
        mc = model_config("full", backbone_path=cfg.backbone_path)
    else:
        mc = model_config(cfg.model_size)
        if cfg.backbone_path:  # e.g. a stage-1 checkpoint of the same tiny/mid backbone
            mc = dataclasses.replace(mc, backbone=dataclasses.replace(mc.backbone, path=cfg.backbone_path))
    if mc.expert.horizon != cfg.horizon and cfg.init_checkpoint:
        raise ConfigError(f"init_checkpoint {cfg.init_checkpoint} has horizon {mc.expert.horizon}, the config "
                          f"{cfg.horizon}")
    return dataclasses.replace(
        mc, dtype="float32", image_height=cfg.image_height, image_width=cfg.image_width,
        expert=dataclasses.replace(mc.expert, horizon=cfg.horizon),
        backbone=dataclasses.replace(mc.backbone, frozen=cfg.freeze_backbone))


def _processor(mc, cfg: TrainConfig):
    if cfg.init_checkpoint:
        return Psi0Processor.load(mc, Path(cfg.init_checkpoint))
    if mc.backbone.tokenizer == "qwen":
        return Psi0Processor.from_backbone_dir(mc, mc.backbone.path)
    return Psi0Processor(mc)


class FlowTask:
    """Everything stage-specific the training loop needs, for stages 2 and 3."""

    checkpoint_kind = "psi0-policy"

    def __init__(self, cfg: TrainConfig, stats: dict):
        self.cfg = cfg
        self.norm = norm_stats_from(stats, cfg.normalization, cfg.action_dim, cfg.state_dim)
        self.model_cfg = _model_config(cfg)
        self.processor = _processor(self.model_cfg, cfg)

    def build_model(self) -> Psi0Model:
        model = Psi0Model(self.model_cfg, load_pretrained_backbone=not self.cfg.init_checkpoint)
        if self.cfg.init_checkpoint:
            from safetensors.torch import load_file
            model.load_state_dict(load_file(str(Path(self.cfg.init_checkpoint) / "model.safetensors")), strict=True)
        if self.cfg.frozen_backbone_bf16 and self.cfg.freeze_backbone:
            model.backbone.to(torch.bfloat16)
        return model

    def collate(self):
        return FlowCollate(self.processor, self.norm)

    def weight_count(self, batch: dict, rnd, pos: slice) -> torch.Tensor:
        """Number of (token, dim) terms this micro-batch adds to the global loss."""
        lm = rnd[1]
        return (lm[pos] & batch["valid"]).sum() * self.cfg.action_dim

    def loss_sum(self, model, batch: dict, rnd, pos: slice, device) -> torch.Tensor:
        """Sum of squared velocity errors over counted terms (= model loss x its weight count)."""
        t, lm, noise, shifts = rnd
        mask = (lm[pos] & batch["valid"]).to(device)
        inputs = model_inputs(self.processor, batch, device, None if shifts is None else shifts[pos],
                              self.cfg.image_shift)
        out = model(inputs, batch["actions"].to(device), t[pos].to(device),
                    noise=noise[pos].to(device), loss_mask=mask)
        return out.loss * (mask.sum() * self.cfg.action_dim)

    @torch.no_grad()
    def evaluate(self, model, batches, device) -> dict:
        """Validation flow loss (fixed randomness) and open-loop error of sampled chunks vs ground truth."""
        sums = {"val/loss": 0.0, "val/open_loop_mse": 0.0, "val/open_loop_mse_norm": 0.0}
        count = rows = 0.0
        for i, batch in enumerate(batches):
            b = batch["actions"].shape[0]
            rnd = step_randomness(self.cfg, i, b, salt=1, augment=False)
            w = float(self.weight_count(batch, rnd, slice(0, b)))
            sums["val/loss"] += float(self.loss_sum(model, batch, rnd, slice(0, b), device))
            count += w
            noise = torch.randn(b, self.cfg.horizon, self.cfg.action_dim,
                                generator=torch.Generator().manual_seed(self.cfg.seed + i))
            pred = model.sample(model_inputs(self.processor, batch, device), self.cfg.flow_steps,
                                noise=noise).cpu().double()
            valid = batch["valid"]
            raw = torch.from_numpy(self.norm.action.unnormalize(pred.numpy()))
            sums["val/open_loop_mse"] += float(((raw - batch["raw_actions"].double()) ** 2)[valid].mean(-1).sum())
            sums["val/open_loop_mse_norm"] += float(((pred - batch["actions"].double()) ** 2)[valid].mean(-1).sum())
            rows += float(valid.sum())
        return {"val/loss": sums["val/loss"] / max(count, 1.0),
                "val/open_loop_mse": sums["val/open_loop_mse"] / max(rows, 1.0),
                "val/open_loop_mse_norm": sums["val/open_loop_mse_norm"] / max(rows, 1.0)}

    def save_model(self, directory: Path, model, extra: dict) -> None:
        """The files the policy node loads: model.safetensors, config.json, norm_stats.json, tokenizer."""
        bf16 = self.cfg.frozen_backbone_bf16 and self.cfg.freeze_backbone
        if bf16:  # the checkpoint holds every tensor in the config's dtype (float32)
            model.backbone.float()
        try:
            save_checkpoint(directory, model, self.norm, self.processor, extra=extra)
        finally:
            if bf16:
                model.backbone.to(torch.bfloat16)

    def randomness(self, step: int, batch: int):
        return step_randomness(self.cfg, step, batch)

    def empty_model(self) -> Psi0Model:
        return Psi0Model(self.model_cfg, load_pretrained_backbone=False)

    def load_weights(self, model, ckpt: Path) -> None:
        from safetensors.torch import load_file
        model.load_state_dict(load_file(str(Path(ckpt) / "model.safetensors")), strict=True)

    def check_resume(self, ckpt: Path) -> None:
        """The dataset's statistics must be the ones the checkpoint was trained with."""
        from psi0_policy.model import NormStats
        from psi0_training.train.batches import DataMismatchError
        saved = NormStats.load(Path(ckpt) / "norm_stats.json").to_dict()
        now = self.norm.to_dict()
        for part in ("action", "state"):
            for k, v in saved[part].items():
                if saved["kind"] != now["kind"] or not torch.allclose(torch.tensor(v), torch.tensor(now[part][k]),
                                                                      rtol=1e-6, atol=1e-9):
                    raise DataMismatchError(f"{ckpt}/norm_stats.json ({saved['kind']} {part}.{k}) differs from the "
                                            "dataset's statistics: resuming would change the normalization; use a "
                                            "new output_dir or the original dataset")
