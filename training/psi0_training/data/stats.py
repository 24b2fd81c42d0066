"""Exact dataset-wide statistics with memory bounded by one feature column.

Per feature the frames of every episode are copied into a column-major
scratch memmap on disk (dim x frames); each dimension is then read as one
contiguous float64 column and reduced exactly: min, max, mean, std
(population, ddof=0), and q01/q99 with numpy's default (linear) quantile rule.
Peak memory is ~8 bytes x total frames, whatever the dimension.

Images: per-channel histograms of uint8 values add up exactly over episodes,
so their stats (scaled to [0, 1]) are exact too, quantiles included.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

QUANTILES = {"q01": 0.01, "q99": 0.99}


def column_stats(col: np.ndarray) -> dict:
    col = np.asarray(col, np.float64)
    qs = np.quantile(col, list(QUANTILES.values()))
    return {"min": float(col.min()), "max": float(col.max()), "mean": float(col.mean()),
            "std": float(col.std()), **{k: float(v) for k, v in zip(QUANTILES, qs)}}


def feature_stats(arrays, dim: int, total: int, scratch: Path) -> dict:
    """Stats of a (total, dim) feature given as an iterable of per-episode arrays (consumed once)."""
    out = {k: [] for k in ("min", "max", "mean", "std", *QUANTILES)}
    if total == 0:
        return {**out, "count": [0]}
    path = scratch / "stats_columns.f32"
    cols = np.memmap(path, np.float32, "w+", shape=(dim, total))
    try:
        pos = 0
        for a in arrays:
            a = np.asarray(a)
            cols[:, pos:pos + len(a)] = a.T
            pos += len(a)
        if pos != total:
            raise ValueError(f"feature has {pos} frames, expected {total}")
        cols.flush()
        for j in range(dim):
            for k, v in column_stats(cols[j]).items():
                out[k].append(v)
    finally:
        del cols
        path.unlink(missing_ok=True)
    return {**out, "count": [total]}


def _hist_quantile(cum: np.ndarray, n: int, q: float) -> float:
    """numpy's linear quantile of sorted data whose value histogram (values 0..255) has cumsum `cum`."""
    h = (n - 1) * q
    lo, hi = int(np.floor(h)), int(np.ceil(h))
    v_lo = int(np.searchsorted(cum, lo, side="right"))
    v_hi = int(np.searchsorted(cum, hi, side="right"))
    return v_lo + (h - lo) * (v_hi - v_lo)


def image_stats(hist: np.ndarray) -> dict:
    """Per-channel stats in [0, 1] from (3, 256) counts, shaped (3, 1, 1) like LeRobot's."""
    vals = np.arange(256, dtype=np.float64)
    out = {k: [] for k in ("min", "max", "mean", "std", *QUANTILES)}
    n = int(hist[0].sum())
    for c in range(3):
        h = hist[c].astype(np.float64)
        nz = np.flatnonzero(hist[c])
        mean = float((h * vals).sum() / n)
        var = float((h * (vals - mean) ** 2).sum() / n)
        cum = np.cumsum(hist[c])
        row = {"min": nz[0], "max": nz[-1], "mean": mean, "std": var ** 0.5,
               **{k: _hist_quantile(cum, n, q) for k, q in QUANTILES.items()}}
        for k, v in row.items():
            out[k].append([[float(v) / 255.0]])
    return {**out, "count": [n]}
