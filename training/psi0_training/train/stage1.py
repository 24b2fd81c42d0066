"""Stage 1: next-action-token pre-training of the Qwen3-VL backbone on FAST tokens (task space, 48-D).

The sequence is the policy's prompt (vision start, image placeholders, vision end, task text, built by
psi0_policy's Psi0Processor) followed by the FAST tokens of the action chunk and an end-of-action token.
FAST token k has id base_vocab + k, end-of-action base_vocab + n_fast: the text vocabulary is extended,
never overwritten. The loss is the cross entropy of the action tokens only.

The checkpoint is a transformers directory (save_pretrained: model.safetensors + config.json of
Qwen3VLForConditionalGeneration) plus fast_tokenizer.json, norm_stats.json (q01/q99) and psi0_stage1.json;
stage 2 takes it as `backbone_path` (psi0_policy's backbone loads it with from_pretrained).
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from psi0_policy.model import Psi0Processor, model_config
from psi0_training.train.batches import FastCollate, QuantileStats, norm_stats_from, pixel_values
from psi0_training.train.configs import TrainConfig
from psi0_training.train.fast_tokenizer import FastTokenizer

META_FILE = "psi0_stage1.json"


class FastVLM(nn.Module):
    """Qwen3VLForConditionalGeneration with FAST action tokens appended to its vocabulary."""

    def __init__(self, hf_config: dict | None, path: str, n_fast: int, load_pretrained: bool = True):
        super().__init__()
        from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

        meta = Path(path) / META_FILE if path else None
        if path and load_pretrained:
            self.lm = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32, local_files_only=True)
        else:
            hf = Qwen3VLConfig.from_pretrained(path) if path else Qwen3VLConfig(**copy.deepcopy(hf_config))
            hf._attn_implementation = "sdpa"
            self.lm = Qwen3VLForConditionalGeneration(hf)
        vocab = int(self.lm.config.text_config.vocab_size)
        self.base_vocab = json.loads(meta.read_text())["base_vocab"] if meta and meta.is_file() else vocab
        self.n_fast = n_fast
        need = self.base_vocab + n_fast + 1
        if vocab != need:
            self.lm.resize_token_embeddings(need, mean_resizing=False)

    @property
    def eos_id(self) -> int:
        return self.base_vocab + self.n_fast

    def hidden(self, batch: dict, device) -> torch.Tensor:
        self.lm.model.rope_deltas = None  # cached M-RoPE deltas of another batch must not leak in
        out = self.lm.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                            pixel_values=batch["pixel_values"].to(device),
                            image_grid_thw=batch["image_grid_thw"].to(device),
                            mm_token_type_ids=batch["mm_token_type_ids"].to(device), use_cache=False)
        return out.last_hidden_state

    def forward(self, batch: dict, device) -> torch.Tensor:
        """Summed cross entropy of the action tokens (logits only where a label exists)."""
        h = self.hidden(batch, device)
        labels = batch["labels"].to(device)[:, 1:]
        sel = labels != -100
        logits = self.lm.lm_head(h[:, :-1][sel]).float()
        return F.cross_entropy(logits, labels[sel], reduction="sum")


class FastTask:
    checkpoint_kind = "psi0-stage1"

    def __init__(self, cfg: TrainConfig, stats: dict, fit_set=None, fast: FastTokenizer | None = None):
        self.cfg = cfg
        self.norm: QuantileStats = norm_stats_from(stats, "quantile", cfg.action_dim, cfg.state_dim)
        mc = model_config("full", backbone_path=cfg.backbone_path) if cfg.model_size == "full" else \
            model_config(cfg.model_size)
        mc = dataclasses.replace(mc, image_height=cfg.image_height, image_width=cfg.image_width)
        # qwen: tokenizer + preprocessor_config.json of the local Qwen3-VL (or stage-1 checkpoint) directory
        self.processor = Psi0Processor.from_backbone_dir(mc, cfg.backbone_path) if mc.backbone.tokenizer == "qwen" \
            else Psi0Processor(mc)
        self.model_cfg = mc
        self.base_vocab = self._base_vocab()
        self.fast = fast if fast is not None else self.fit_fast(fit_set)
        self.fast_report = None

    def fit_fast(self, dataset) -> FastTokenizer:
        """Fit FAST on up to fast_fit_samples action rows (whole chunks) sampled from the training set."""
        n_chunks = max(1, min(len(dataset), self.cfg.fast_fit_samples // self.cfg.horizon))
        idx = np.random.default_rng(self.cfg.seed).choice(len(dataset), n_chunks, replace=False)
        chunks = np.stack([np.asarray(dataset[int(i)]["action"], np.float64) for i in idx])
        return FastTokenizer.fit(self.norm.normalize(chunks), self.cfg.fast_scale, self.cfg.fast_vocab_size)

    def report_fast(self, dataset, n: int = 256) -> dict:
        idx = np.random.default_rng(self.cfg.seed + 1).choice(len(dataset), min(n, len(dataset)), replace=False)
        chunks = np.stack([np.asarray(dataset[int(i)]["action"], np.float64) for i in idx])
        self.fast_report = self.fast.report(self.norm.normalize(chunks)).as_dict()
        return self.fast_report

    def build_model(self) -> FastVLM:
        return FastVLM(self.model_cfg.backbone.hf_config, self.cfg.backbone_path, self.fast.num_tokens)

    def collate(self):
        return FastCollate(self.processor, self.norm, self.fast, self.base_vocab,
                           self.base_vocab + self.fast.num_tokens, self.cfg.fast_max_tokens)

    def _base_vocab(self) -> int:
        path = self.cfg.backbone_path
        if path and (Path(path) / META_FILE).is_file():  # continuing from a stage-1 checkpoint
            return json.loads((Path(path) / META_FILE).read_text())["base_vocab"]
        if path:
            from transformers import Qwen3VLConfig
            return int(Qwen3VLConfig.from_pretrained(path).text_config.vocab_size)
        return int(self.model_cfg.backbone.hf_config["text_config"]["vocab_size"])

    def weight_count(self, batch: dict, rnd, pos: slice) -> torch.Tensor:
        return (batch["labels"][:, 1:] != -100).sum()

    def loss_sum(self, model, batch: dict, rnd, pos: slice, device) -> torch.Tensor:
        pix, grid = pixel_values(self.processor, batch["images"], device)
        return model({**batch, "pixel_values": pix, "image_grid_thw": grid}, device)

    @torch.no_grad()
    def evaluate(self, model, batches, device, max_decode: int = 2) -> dict:
        """Validation cross entropy; open-loop: greedy-decoded chunks of a few samples vs ground truth."""
        ce = count = 0.0
        errs, norm_errs, lengths = [], [], []
        for batch in batches:
            ce += float(self.loss_sum(model, batch, None, slice(None), device))
            count += float(self.weight_count(batch, None, slice(None)))
            for i in range(min(max_decode, batch["input_ids"].shape[0])):
                ids = self.greedy(model, batch, i, device)
                pred = self.fast.decode([[t - model.base_vocab for t in ids]])[0]
                truth = batch["raw_actions"][i].double().numpy()
                errs.append(float(((self.norm.unnormalize(pred) - truth) ** 2).mean()))
                norm_errs.append(float(((pred - self.norm.normalize(truth)) ** 2).mean()))
                lengths.append(len(ids))
        return {"val/loss": ce / max(count, 1.0), "val/open_loop_mse": float(np.mean(errs)),
                "val/open_loop_mse_norm": float(np.mean(norm_errs)), "val/decoded_tokens": float(np.mean(lengths))}

    def greedy(self, model, batch: dict, i: int, device) -> list[int]:
        """Greedy decoding (transformers generate, KV cache) of one sample, constrained to action tokens."""
        from transformers import LogitsProcessorList

        n = int(batch["prompt_lens"][i])
        ids = batch["input_ids"][i: i + 1, :n].to(device)
        model.lm.model.rope_deltas = None
        pix, grid = pixel_values(self.processor, batch["images"][i: i + 1], device)
        out = model.lm.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pix, image_grid_thw=grid,
            mm_token_type_ids=(ids == self.processor.special["<|image_pad|>"]).int(),
            max_new_tokens=self._decode_limit(), do_sample=False, eos_token_id=model.eos_id,
            pad_token_id=self.processor.pad_id,
            logits_processor=LogitsProcessorList([_OnlyActionTokens(model.base_vocab, model.eos_id)]))
        toks = out[0, n:].tolist()
        return toks[: toks.index(model.eos_id)] if model.eos_id in toks else toks

    def _decode_limit(self) -> int:
        """Longest decode: a little over the longest chunk seen when fitting FAST (untrained models never stop)."""
        longest = (self.fast_report or {}).get("max_tokens", self.cfg.fast_max_tokens)
        return min(self.cfg.fast_max_tokens, int(longest) + 8)

    def save_model(self, directory: Path, model, extra: dict) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        model.lm.save_pretrained(str(directory), safe_serialization=True)
        if self.model_cfg.backbone.tokenizer == "qwen":  # a directory Psi0Processor.from_backbone_dir reads
            self.processor.qwen_tokenizer.save_pretrained(str(directory))
            (directory / "preprocessor_config.json").write_text(json.dumps(self.processor.image_config, indent=1))
        else:
            self.processor.tokenizer.save(str(directory / "tokenizer.json"))
        self.fast.save(directory / "fast_tokenizer.json")
        (directory / "norm_stats.json").write_text(json.dumps(self.norm.to_dict(), indent=1))
        (directory / META_FILE).write_text(json.dumps({"base_vocab": model.base_vocab, "fast_tokens": model.n_fast,
                                                       "eos_id": model.eos_id, "fast_report": self.fast_report,
                                                       **extra}, indent=1))


    def randomness(self, step: int, batch: int):
        return None  # the cross entropy has no sampled terms

    def empty_model(self) -> FastVLM:
        return FastVLM(self.model_cfg.backbone.hf_config, self.cfg.backbone_path, self.fast.num_tokens,
                       load_pretrained=False)

    def load_weights(self, model: FastVLM, ckpt: Path) -> None:
        sd = _load_hf_weights(ckpt)
        missing, unexpected = model.lm.load_state_dict(sd, strict=False)
        tied = {"lm_head.weight"} if getattr(model.lm.config, "tie_word_embeddings", False) else set()
        if unexpected or set(missing) - tied:
            raise ValueError(f"{ckpt}: weights do not match the model: missing {sorted(set(missing) - tied)[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}")
        if tied:
            model.lm.tie_weights()

    def check_resume(self, ckpt: Path) -> None:
        from psi0_training.train.batches import DataMismatchError
        saved = QuantileStats.from_dict(json.loads((Path(ckpt) / "norm_stats.json").read_text()))
        if not (np.allclose(saved.q01, self.norm.q01) and np.allclose(saved.q99, self.norm.q99)):
            raise DataMismatchError(f"{ckpt}/norm_stats.json differs from the dataset's q01/q99: resuming would "
                                    "change the normalization; use a new output_dir or the original dataset")


class _OnlyActionTokens:
    """Logits processor: only FAST tokens and the end-of-action token may be generated."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def __call__(self, input_ids, scores):
        out = torch.full_like(scores, float("-inf"))
        out[:, self.lo: self.hi + 1] = scores[:, self.lo: self.hi + 1]
        return out


def _load_hf_weights(directory: Path) -> dict:
    from safetensors.torch import load_file
    directory = Path(directory)
    single = directory / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = directory / "model.safetensors.index.json"
    if not index.is_file():
        raise FileNotFoundError(f"{directory}: no model.safetensors(.index.json)")
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    out: dict = {}
    for s in shards:
        out.update(load_file(str(directory / s)))
    return out
