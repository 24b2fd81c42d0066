"""Data side of the trainer: statistics -> normalization, dimension checks, data order, collation.

Data order is a pure function of (seed, step): step s of epoch e takes the
global batch perm_e[k*B:(k+1)*B] (perm_e drawn from seed + e, last partial
batch dropped), and process r of W takes, for accumulation micro-step a,
the slice (a*W + r)*m ... of it (m = B / (W * A)). Resuming at step s needs
nothing but s, and 1 process sees exactly the samples 2 processes see.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler

from psi0_policy.model import ModelInputs, NormStats, Stats
from psi0_policy.model.processor import check_image, patchify

ITEM_KEYS = ("observation.state", "action", "action_is_pad", "task")


class DataMismatchError(ValueError):
    """Dataset dimensions or statistics that do not fit the training config; raised before training."""


@dataclass(frozen=True)
class QuantileStats:
    """q01/q99 -> [-1, 1], clipped (FAST / stage 1). numpy only."""
    q01: np.ndarray
    q99: np.ndarray

    def normalize(self, x):
        c, s = (self.q01 + self.q99) / 2, np.maximum((self.q99 - self.q01) / 2, 1e-6)
        return np.clip((np.asarray(x, np.float64) - c) / s, -1.0, 1.0)

    def unnormalize(self, y):
        c, s = (self.q01 + self.q99) / 2, np.maximum((self.q99 - self.q01) / 2, 1e-6)
        return np.asarray(y, np.float64) * s + c

    def to_dict(self) -> dict:
        return {"kind": "quantile", "action": {"q01": self.q01.tolist(), "q99": self.q99.tolist()}}

    @classmethod
    def from_dict(cls, d: dict) -> "QuantileStats":
        return cls(np.asarray(d["action"]["q01"], np.float64), np.asarray(d["action"]["q99"], np.float64))


def _feature(stats: dict, name: str, keys: tuple[str, str], dim: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in stats:
        raise DataMismatchError(f"{where}: meta/stats.json has no {name!r} entry")
    out = []
    for k in keys:
        if k not in stats[name]:
            raise DataMismatchError(f"{where}: stats of {name!r} have no {k!r} (normalization needs {keys})")
        v = np.asarray(stats[name][k], np.float64).reshape(-1)
        if v.shape != (dim,):
            raise DataMismatchError(f"{where}: stats {name}.{k} have {v.shape[0]} dims, the config expects {dim}")
        if not np.isfinite(v).all():
            raise DataMismatchError(f"{where}: stats {name}.{k} have non-finite values at dims "
                                    f"{np.flatnonzero(~np.isfinite(v)).tolist()[:8]}")
        out.append(v)
    return out[0], out[1]


def norm_stats_from(stats: dict, kind: str, action_dim: int, state_dim: int, where: str = "dataset"):
    """meta/stats.json contents -> NormStats (minmax/meanstd) or QuantileStats, checking every dimension."""
    if kind == "quantile":
        return QuantileStats(*_feature(stats, "action", ("q01", "q99"), action_dim, where))
    keys = ("min", "max") if kind == "minmax" else ("mean", "std")
    try:
        return NormStats(Stats(kind, *_feature(stats, "action", keys, action_dim, where)),
                         Stats(kind, *_feature(stats, "observation.state", keys, state_dim, where)))
    except ValueError as exc:
        if isinstance(exc, DataMismatchError):
            raise
        raise DataMismatchError(f"{where}: {exc}") from exc


def check_item(item: dict, horizon: int, action_dim: int, state_dim: int | None, where: str = "dataset") -> None:
    """Check one dataset item against the config; a clear message instead of a shape error mid-step."""
    missing = [k for k in ITEM_KEYS if k not in item and not (k == "observation.state" and state_dim is None)]
    if missing:
        raise DataMismatchError(f"{where}: items lack {missing} (have {sorted(item)})")
    a = tuple(item["action"].shape)
    if a != (horizon, action_dim):
        raise DataMismatchError(f"{where}: action chunks are {a}, the config expects (horizon {horizon}, "
                                f"action_dim {action_dim})")
    if state_dim is not None and tuple(item["observation.state"].shape) != (state_dim,):
        raise DataMismatchError(f"{where}: state is {tuple(item['observation.state'].shape)}, the config expects "
                                f"({state_dim},)")
    if image_key(item) is None:
        raise DataMismatchError(f"{where}: items carry no 'observation.images.*' camera image")


def image_key(item: dict) -> str | None:
    return next((k for k in item if k.startswith("observation.images.")), None)


class StepSampler(Sampler):
    """Infinite batch sampler: this process's micro-batches, from `start_step` on (see module doc)."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1, accum: int = 1,
                 start_step: int = 0):
        if batch_size % (world * accum):
            raise ValueError(f"batch_size {batch_size} is not divisible by world size {world} x grad_accum {accum}")
        if n < batch_size:
            raise DataMismatchError(f"dataset has {n} samples, fewer than one global batch of {batch_size}")
        self.n, self.b, self.seed, self.rank, self.world, self.accum = n, batch_size, seed, rank, world, accum
        self.micro = batch_size // (world * accum)
        self.start_step = start_step
        self.steps_per_epoch = n // batch_size

    def global_batch(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g).numpy()
        return perm[k * self.b:(k + 1) * self.b]

    def positions(self, a: int) -> slice:
        """Where micro-step a of this process sits in the global batch."""
        start = (a * self.world + self.rank) * self.micro
        return slice(start, start + self.micro)

    def __iter__(self):
        step = self.start_step
        while True:
            g = self.global_batch(step)
            for a in range(self.accum):
                yield g[self.positions(a)].tolist()
            step += 1

    def state(self, step: int) -> dict:
        return {"seed": self.seed, "step": step, "dataset_len": self.n, "batch_size": self.b,
                "steps_per_epoch": self.steps_per_epoch}


def _stack(items: list[dict], key: str) -> torch.Tensor:
    return torch.stack([torch.as_tensor(it[key]) for it in items])


def _images(items: list[dict]) -> torch.Tensor:
    """(B, H, W, 3) uint8: the camera frames as stored (float CHW in [0, 1] is converted back)."""
    key = image_key(items[0])
    out = []
    for it in items:
        im = it[key]
        im = im.numpy() if isinstance(im, torch.Tensor) else np.asarray(im)
        if im.dtype != np.uint8:
            im = (np.clip(np.moveaxis(im, 0, -1), 0, 1) * 255).round().astype(np.uint8)
        out.append(check_image(im))
    return torch.from_numpy(np.stack(out))


def shift_images(images: torch.Tensor, shifts: torch.Tensor, max_fraction: float) -> torch.Tensor:
    """Random-shift augmentation of a (B, H, W, 3) uint8 batch: sample i moves by shifts[i] (dy, dx in [-1, 1])
    times max_fraction of H and W, whole pixels, edges repeated (no black borders the camera never shows)."""
    b, h, w, _ = images.shape
    py, px = round(max_fraction * h), round(max_fraction * w)
    if py == 0 and px == 0:
        return images
    padded = F.pad(images.permute(0, 3, 1, 2).float(), (px, px, py, py), mode="replicate")
    dy = (shifts[:, 0].clamp(-1, 1) * py).round().long()
    dx = (shifts[:, 1].clamp(-1, 1) * px).round().long()
    out = torch.stack([padded[i, :, py + dy[i]:py + dy[i] + h, px + dx[i]:px + dx[i] + w] for i in range(b)])
    return out.permute(0, 2, 3, 1).to(torch.uint8)


def pixel_values(processor, images: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Psi0Processor.images, run on `device` on a (B, H, W, 3) uint8 batch: the same operations in the same
    order (scale, antialiased bilinear resize, mean/std, Qwen patch layout), so the model sees exactly what
    the policy's processor gives it at inference (tested), while DataLoader workers only stack uint8 frames
    and the resize runs where the model runs (a GPU does it in microseconds)."""
    x = images.to(device).permute(0, 3, 1, 2).float() / 255.0
    if tuple(x.shape[-2:]) != tuple(processor.out_hw):
        x = F.interpolate(x, size=processor.out_hw, mode="bilinear", align_corners=False, antialias=True)
    x = (x - processor.mean.to(device)) / processor.std.to(device)
    pix, gh, gw = patchify(x, processor.patch, processor.merge, processor.temporal)
    grid = torch.tensor([[1, gh, gw]] * images.shape[0], dtype=torch.long, device=device)
    return pix, grid


class FlowCollate:
    """Items -> uint8 frames, tokenized task, normalized state and actions, valid (B, H) mask, raw actions."""

    def __init__(self, processor, norm: NormStats):
        self.processor, self.norm = processor, norm

    def __call__(self, items: list[dict]) -> dict:
        state = _stack(items, "observation.state").double().numpy()
        raw = _stack(items, "action").double()
        if not (np.isfinite(state).all() and torch.isfinite(raw).all()):
            where = [(int(it.get("episode_index", -1)), int(it.get("frame_index", -1))) for it in items
                     if not (torch.isfinite(torch.as_tensor(it["action"])).all()
                             and torch.isfinite(torch.as_tensor(it["observation.state"])).all())]
            raise DataMismatchError(f"non-finite state/action in (episode, frame) {where[:5]}")
        ids, mask, mm = self.processor.text([it["task"] for it in items])
        return {"images": _images(items), "input_ids": ids, "attention_mask": mask, "mm_token_type_ids": mm,
                "state": torch.from_numpy(self.norm.state.normalize(state)).float(),
                "actions": torch.from_numpy(self.norm.action.normalize(raw.numpy())).float(),
                "valid": ~_stack(items, "action_is_pad").bool(), "raw_actions": raw.float()}


def model_inputs(processor, batch: dict, device, shifts: torch.Tensor | None = None,
                 max_shift: float = 0.0) -> ModelInputs:
    images = batch["images"] if shifts is None or max_shift <= 0 else shift_images(batch["images"], shifts, max_shift)
    pix, grid = pixel_values(processor, images, device)
    return ModelInputs(pix, grid, batch["input_ids"].to(device), batch["attention_mask"].to(device),
                       batch["mm_token_type_ids"].to(device), batch["state"].to(device))


class FastCollate:
    """Items -> prompt (image + task) followed by FAST action tokens, for stage 1 (see stage1.FastVLM)."""

    def __init__(self, processor, norm: QuantileStats, fast, token_offset: int, eos_id: int, max_tokens: int):
        self.processor, self.norm, self.fast = processor, norm, fast
        self.offset, self.eos, self.max_tokens = token_offset, eos_id, max_tokens

    def __call__(self, items: list[dict]) -> dict:
        raw = _stack(items, "action").double().numpy()
        if not np.isfinite(raw).all():
            raise DataMismatchError("non-finite actions in the batch (episodes "
                                    f"{sorted({int(it.get('episode_index', -1)) for it in items})})")
        ids, mask, _ = self.processor.text([it["task"] for it in items])
        codes = self.fast.encode(self.norm.normalize(raw))
        cut = sum(len(c) > self.max_tokens for c in codes)
        seqs, labels, prompt_lens = [], [], []
        for i, c in enumerate(codes):
            prompt = ids[i, : int(mask[i].sum())].tolist()
            act = [self.offset + t for t in c[: self.max_tokens]] + [self.eos]
            seqs.append(prompt + act)
            labels.append([-100] * len(prompt) + act)
            prompt_lens.append(len(prompt))
        length = max(map(len, seqs))
        out_ids = torch.full((len(seqs), length), self.processor.pad_id, dtype=torch.long)
        out_lab = torch.full((len(seqs), length), -100, dtype=torch.long)
        out_mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, (s, lab) in enumerate(zip(seqs, labels)):
            out_ids[i, : len(s)] = torch.tensor(s)
            out_lab[i, : len(s)] = torch.tensor(lab)
            out_mask[i, : len(s)] = 1
        mm = (out_ids == self.processor.special["<|image_pad|>"]).int() * out_mask.int()
        return {"images": _images(items), "input_ids": out_ids, "attention_mask": out_mask,
                "mm_token_type_ids": mm, "labels": out_lab, "prompt_lens": torch.tensor(prompt_lens),
                "raw_actions": torch.from_numpy(raw).float(), "truncated": torch.tensor(cut)}


class ArrayChunkDataset(torch.utils.data.Dataset):
    """In-memory episodes with the item keys of psi0_training.data.dataset.Psi0Dataset.

    For tests and benchmarks that need data without converting bags. episodes: list of dicts with
    "action" (T, A), "state" (T, S), "image" (T, h, w, 3) uint8 or (h, w, 3) shared, "task" str."""

    def __init__(self, episodes: list[dict], horizon: int, image_key: str = "observation.images.head"):
        self.episodes, self.horizon, self.key = episodes, horizon, image_key
        self.index = [(e, f) for e, ep in enumerate(episodes) for f in range(len(ep["action"]))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        e, f = self.index[i]
        ep = self.episodes[e]
        last = len(ep["action"]) - 1
        want = f + np.arange(self.horizon)
        img = ep["image"][f] if ep["image"].ndim == 4 else ep["image"]
        return {"observation.state": torch.as_tensor(ep["state"][f], dtype=torch.float32),
                "action": torch.as_tensor(ep["action"][np.minimum(want, last)], dtype=torch.float32),
                "action_is_pad": torch.from_numpy(want > last), "task": ep["task"],
                "episode_index": torch.tensor(e), "frame_index": torch.tensor(f), self.key: torch.from_numpy(img)}

    def stats(self) -> dict:
        """meta/stats.json-style statistics of the episodes' frames."""
        out = {}
        for name, key in (("action", "action"), ("observation.state", "state")):
            x = np.concatenate([np.asarray(ep[key], np.float64) for ep in self.episodes])
            out[name] = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0),
                         "q01": np.quantile(x, 0.01, axis=0), "q99": np.quantile(x, 0.99, axis=0)}
        return out
