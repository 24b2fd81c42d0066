"""Observation -> model inputs: head image, task text and 32-D state.

Images: HxWx3 uint8 RGB (240x320 from the head camera) are resized to the
nearest multiple of patch_size * merge_size (Qwen's smart resize; 240x320 ->
256x320), scaled to [-1, 1] (Qwen3-VL mean = std = 0.5) and cut into the
flat patch layout Qwen3-VL's vision tower reads: rows of
C * temporal_patch * patch * patch values, ordered by 2x2 merge window, the
single frame repeated over the temporal patch.

Text: "<|vision_start|>" + image placeholders + "<|vision_end|>" + task. The
`char` tokenizer is a byte-level `tokenizers` BPE with no merges (vocabulary
= 256 bytes + 4 specials), built locally and saved with a checkpoint as
tokenizer.json; `qwen` uses the tokenizer of the local Qwen3-VL directory
(AutoTokenizer) and its preprocessor_config.json for patch size, merge size
and mean/std; the patch layout is computed here (the same as Qwen's image
processor, tested against it), so torchvision is not needed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from psi0_policy.model.config import CHAR_SPECIALS, Psi0ModelConfig


@dataclass
class ModelInputs:
    """A batch ready for Psi0Model (all tensors on one device)."""
    pixel_values: torch.Tensor     # (sum of patches, C*T*P*P) float
    image_grid_thw: torch.Tensor   # (B, 3) long
    input_ids: torch.Tensor        # (B, L) long
    attention_mask: torch.Tensor   # (B, L) long, 1 = real token
    mm_token_type_ids: torch.Tensor  # (B, L) int, 1 = image placeholder
    state: torch.Tensor            # (B, state_dim) normalized state

    def to(self, device) -> "ModelInputs":
        return ModelInputs(**{k: v.to(device) for k, v in self.__dict__.items()})

    @property
    def batch_size(self) -> int:
        return self.input_ids.shape[0]


def smart_size(height: int, width: int, factor: int) -> tuple[int, int]:
    """Nearest multiples of `factor` (Qwen's smart_resize without the pixel-budget clamp)."""
    return max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)


def patchify(images: torch.Tensor, patch: int, merge: int, temporal: int) -> tuple[torch.Tensor, int, int]:
    """(B, C, H, W) -> (B * gh * gw, C*temporal*patch*patch) in Qwen's merge-window order."""
    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    x = images.reshape(b, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # b, gh/m, gw/m, m, m, c, p, p
    x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, temporal, -1, -1)
    return x.reshape(b * gh * gw, c * temporal * patch * patch), gh, gw


def check_image(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8 RGB, got shape {a.shape} dtype {a.dtype}")
    return a


def build_char_tokenizer():
    """Byte-level tokenizer (ids 0-255 = bytes, then CHAR_SPECIALS), no download needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = ByteLevel.alphabet()
    byte_to_char = sorted(alphabet, key=lambda ch: _BYTE_ORDER[ch])
    vocab = {ch: i for i, ch in enumerate(byte_to_char)}
    for i, tok in enumerate(CHAR_SPECIALS):
        vocab[tok] = 256 + i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(CHAR_SPECIALS))
    return tok


def _byte_order() -> dict[str, int]:
    # GPT-2 byte->unicode table: the char ByteLevel uses for each byte value.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_ORDER = _byte_order()


IMAGE_KEYS = ("patch_size", "merge_size", "temporal_patch_size", "image_mean", "image_std")


def read_image_config(directory) -> dict:
    """Image settings from a Qwen preprocessor_config.json (read as JSON: no torchvision needed)."""
    path = Path(directory) / "preprocessor_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no preprocessor_config.json (Qwen3-VL image settings)")
    raw = json.loads(path.read_text())
    return {k: raw[k] for k in IMAGE_KEYS if k in raw}


class Psi0Processor:
    """Turns (images, tasks, normalized states) into ModelInputs for one model config.

    `char` configs build their tokenizer locally; `qwen` configs take the tokenizer (AutoTokenizer) and the
    image settings (preprocessor_config.json) of the local Qwen3-VL directory: `from_backbone_dir`."""

    def __init__(self, cfg: Psi0ModelConfig, tokenizer=None, qwen_tokenizer=None, image_config: dict | None = None,
                 qwen_processor=None):
        """qwen_processor: a loaded transformers Qwen3-VL processor (AutoProcessor; needs torchvision) as an
        alternative to qwen_tokenizer + image_config; its tokenizer and image settings are used."""
        self.cfg = cfg
        self.qwen = qwen_processor
        if qwen_processor is not None:
            qwen_tokenizer = qwen_tokenizer or qwen_processor.tokenizer
            ip = qwen_processor.image_processor
            image_config = {**{k: getattr(ip, k) for k in IMAGE_KEYS if getattr(ip, k, None) is not None},
                            **(image_config or {})}
        vc = cfg.backbone.hf_config.get("vision_config", {})
        ic = {"patch_size": vc.get("patch_size", 16), "merge_size": vc.get("spatial_merge_size", 2),
              "temporal_patch_size": vc.get("temporal_patch_size", 2), "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
        ic.update(image_config or {})
        self.image_config = ic
        self.patch, self.merge, self.temporal = int(ic["patch_size"]), int(ic["merge_size"]), int(ic["temporal_patch_size"])
        self.qwen_tokenizer = qwen_tokenizer
        if cfg.backbone.tokenizer == "qwen":
            if qwen_tokenizer is None:
                raise ValueError("a 'qwen' tokenizer config needs the Qwen3-VL tokenizer of the local model dir "
                                 "(Psi0Processor.from_backbone_dir)")
            tok = qwen_tokenizer
            self._encode = lambda s: tok(s, add_special_tokens=False)["input_ids"]
            self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
            self.special = {n: tok.convert_tokens_to_ids(n) for n in CHAR_SPECIALS[1:]}
        else:
            self.tokenizer = tokenizer if tokenizer is not None else build_char_tokenizer()
            self._encode = lambda s: self.tokenizer.encode(s, add_special_tokens=False).ids
            self.pad_id = self.tokenizer.token_to_id("<pad>")
            self.special = {n: self.tokenizer.token_to_id(n) for n in CHAR_SPECIALS[1:]}
        missing = [n for n, i in self.special.items() if i is None]
        if missing:
            raise ValueError(f"tokenizer has no {missing} tokens")
        self.mean = torch.tensor(ic["image_mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(ic["image_std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.out_hw = smart_size(cfg.image_height, cfg.image_width, self.patch * self.merge)

    @classmethod
    def from_backbone_dir(cls, cfg: Psi0ModelConfig, path) -> "Psi0Processor":
        """Tokenizer and image settings of a local Qwen3-VL directory (nothing is downloaded)."""
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(cfg, qwen_tokenizer=tok, image_config=read_image_config(path))

    @property
    def image_tokens(self) -> int:
        h, w = self.out_hw
        return (h // self.patch) * (w // self.patch) // (self.merge ** 2)

    def save(self, directory: Path) -> None:
        if self.cfg.backbone.tokenizer == "qwen":
            out = Path(directory) / "processor"
            if self.qwen is not None:
                self.qwen.save_pretrained(str(out))   # includes its preprocessor_config.json
            else:
                self.qwen_tokenizer.save_pretrained(str(out))
                (out / "preprocessor_config.json").write_text(json.dumps(self.image_config, indent=1))
        else:
            self.tokenizer.save(str(Path(directory) / "tokenizer.json"))

    @classmethod
    def load(cls, cfg: Psi0ModelConfig, directory: Path) -> "Psi0Processor":
        directory = Path(directory)
        if cfg.backbone.tokenizer == "qwen":
            return cls.from_backbone_dir(cfg, directory / "processor")
        from tokenizers import Tokenizer
        path = directory / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {directory} has no tokenizer.json (char tokenizer)")
        return cls(cfg, tokenizer=Tokenizer.from_file(str(path)))

    def images(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        arrs = [check_image(im) for im in images]
        x = torch.stack([torch.from_numpy(np.array(a, copy=True)) for a in arrs]).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-2:] != self.out_hw:
            x = F.interpolate(x, size=self.out_hw, mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        pix, gh, gw = patchify(x, self.patch, self.merge, self.temporal)
        grid = torch.tensor([[1, gh, gw]] * len(arrs), dtype=torch.long)
        return pix, grid

    def text(self, tasks: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n_img = self.image_tokens
        head = [self.special["<|vision_start|>"]] + [self.special["<|image_pad|>"]] * n_img + \
            [self.special["<|vision_end|>"]]
        seqs = [head + list(self._encode(t))[: self.cfg.max_text_tokens] for t in tasks]
        length = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        mm = (ids == self.special["<|image_pad|>"]).int() * mask.int()
        return ids, mask, mm

    def __call__(self, images, tasks: list[str], states) -> ModelInputs:
        """images: list of HxWx3 uint8; tasks: list of str; states: (B, state_dim) normalized."""
        st = torch.as_tensor(np.asarray(states, dtype=np.float32))
        if st.ndim != 2 or st.shape[1] != self.cfg.state_dim:
            raise ValueError(f"states must be (B, {self.cfg.state_dim}), got {tuple(st.shape)}")
        if not (len(images) == len(tasks) == st.shape[0]):
            raise ValueError(f"batch sizes differ: {len(images)} images, {len(tasks)} tasks, {st.shape[0]} states")
        if not torch.isfinite(st).all():
            raise ValueError("state has non-finite values")
        pix, grid = self.images(images)
        ids, mask, mm = self.text(list(tasks))
        return ModelInputs(pix, grid, ids, mask, mm, st)
