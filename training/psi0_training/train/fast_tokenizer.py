"""FAST action tokenizer: DCT per dimension, scale and round, then BPE.

Following Pertsch et al., "FAST: Efficient Action Tokenization for
Vision-Language-Action Models" (arXiv 2501.09747), written here from the
paper's description:
  1. a normalized chunk (H, D) (quantile normalization to [-1, 1] is the
     caller's job) gets a type-II orthonormal DCT along time, per dimension;
  2. the coefficients are multiplied by `scale` and rounded to integers
     (the only lossy step: each coefficient is off by at most 0.5 / scale,
     so each reconstructed value by at most 0.5 * sqrt(H) / scale);
  3. the integer matrix is flattened low frequency first (all dims of
     frequency 0, then of frequency 1, ...), each integer mapped to one
     character, and a byte-pair encoder (`tokenizers` BPE) fitted on such
     strings compresses them into `vocab_size` tokens.
Decoding reverses this; a token string of the wrong length (a model can
emit one) is cut or zero-padded to H * D coefficients, as FAST does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.fft import dct, idct

# Integers map to consecutive characters from here (CJK block: printable, no whitespace, 20992 code points).
_CHAR_BASE = 0x4E00
_CHAR_SPAN = 20992
FORMAT = "psi0-fast/1"


@dataclass
class FastReport:
    l1_error: float          # mean |decode(encode(x)) - x| over held-out chunks (normalized units)
    max_error: float         # largest absolute reconstruction error seen
    mean_tokens: float       # mean tokens per chunk
    max_tokens: int
    compression: float       # H * D integers / mean tokens
    clipped_fraction: float  # coefficients outside the fitted integer range (clipped)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class FastTokenizer:
    def __init__(self, horizon: int, dim: int, scale: float, vocab_size: int, lo: int, hi: int, bpe=None):
        self.horizon, self.dim, self.scale, self.vocab_size = horizon, dim, float(scale), vocab_size
        self.lo, self.hi = int(lo), int(hi)
        self.bpe = bpe

    # ---- numeric part
    def coefficients(self, chunks: np.ndarray) -> np.ndarray:
        """(N, H, D) normalized chunks -> (N, H * D) integers, low frequency first."""
        chunks = np.asarray(chunks, np.float64)
        if chunks.ndim != 3 or chunks.shape[1:] != (self.horizon, self.dim):
            raise ValueError(f"FAST expects chunks (N, {self.horizon}, {self.dim}), got {chunks.shape}")
        c = dct(chunks, type=2, norm="ortho", axis=1) * self.scale
        return np.rint(c).astype(np.int64).reshape(len(chunks), -1)

    def from_coefficients(self, ints: np.ndarray) -> np.ndarray:
        c = np.asarray(ints, np.float64).reshape(-1, self.horizon, self.dim) / self.scale
        return idct(c, type=2, norm="ortho", axis=1)

    def _to_text(self, row: np.ndarray) -> str:
        return "".join(map(chr, (np.clip(row, self.lo, self.hi) - self.lo + _CHAR_BASE).tolist()))

    # ---- fitting
    @classmethod
    def fit(cls, chunks: np.ndarray, scale: float, vocab_size: int) -> "FastTokenizer":
        """Fit the integer range and the BPE merges on normalized chunks (N, H, D)."""
        from tokenizers import Tokenizer, models, trainers

        chunks = np.asarray(chunks, np.float64)
        if chunks.ndim != 3 or len(chunks) == 0:
            raise ValueError(f"FAST fit needs chunks (N, H, D) with N > 0, got {chunks.shape}")
        probe = cls(chunks.shape[1], chunks.shape[2], scale, vocab_size, 0, 0)
        ints = probe.coefficients(chunks)
        lo, hi = int(ints.min()), int(ints.max())
        n_chars = hi - lo + 1
        if n_chars > min(vocab_size, _CHAR_SPAN):
            raise ValueError(f"FAST: scale {scale} gives {n_chars} distinct coefficient values, more than the "
                             f"vocabulary {vocab_size}; lower fast_scale or raise fast_vocab_size "
                             "(are the actions normalized to [-1, 1]?)")
        tok = cls(chunks.shape[1], chunks.shape[2], scale, vocab_size, lo, hi)
        alphabet = [chr(_CHAR_BASE + i) for i in range(n_chars)]
        bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, min_frequency=2,
                                      show_progress=False, limit_alphabet=n_chars)
        bpe.train_from_iterator((tok._to_text(r) for r in ints), trainer=trainer, length=len(ints))
        tok.bpe = bpe
        return tok

    # ---- tokens
    @property
    def num_tokens(self) -> int:
        """Size of the token id space (ids are 0..num_tokens-1)."""
        return self.bpe.get_vocab_size()

    def encode(self, chunks: np.ndarray) -> list[list[int]]:
        texts = [self._to_text(r) for r in self.coefficients(chunks)]
        return [e.ids for e in self.bpe.encode_batch(texts, add_special_tokens=False)]

    def decode(self, token_ids: list[list[int]]) -> np.ndarray:
        """Token id lists -> (N, H, D) normalized chunks (wrong-length outputs are cut / zero-padded)."""
        n = self.horizon * self.dim
        out = np.zeros((len(token_ids), n), np.int64)
        for i, ids in enumerate(token_ids):
            text = "".join(self.bpe.id_to_token(int(t)) or "" for t in ids)
            vals = [ord(ch) - _CHAR_BASE + self.lo for ch in text[:n]]
            out[i, : len(vals)] = vals
        return self.from_coefficients(out)

    def report(self, chunks: np.ndarray) -> FastReport:
        """Reconstruction error and token length on (held-out) normalized chunks."""
        chunks = np.asarray(chunks, np.float64)
        ids = self.encode(chunks)
        rec = self.decode(ids)
        ints = self.coefficients(chunks)
        err = np.abs(rec - chunks)
        lens = np.array([len(i) for i in ids])
        return FastReport(float(err.mean()), float(err.max()), float(lens.mean()), int(lens.max()),
                          float(self.horizon * self.dim / lens.mean()),
                          float(((ints < self.lo) | (ints > self.hi)).mean()))

    # ---- persistence (JSON only)
    def to_dict(self) -> dict:
        return {"format": FORMAT, "horizon": self.horizon, "dim": self.dim, "scale": self.scale,
                "vocab_size": self.vocab_size, "lo": self.lo, "hi": self.hi, "bpe": json.loads(self.bpe.to_str())}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> "FastTokenizer":
        from tokenizers import Tokenizer

        d = json.loads(Path(path).read_text())
        if d.get("format") != FORMAT:
            raise ValueError(f"{path}: format {d.get('format')!r}, expected {FORMAT!r}")
        return cls(d["horizon"], d["dim"], d["scale"], d["vocab_size"], d["lo"], d["hi"],
                   Tokenizer.from_str(json.dumps(d["bpe"])))
