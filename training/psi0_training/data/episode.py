"""Convert one bag into one episode: grid-aligned arrays, frames, video and a quality report.

The result goes to `<work>/<bag fingerprint[:16]>-<config hash>/` (written under a
temporary name, renamed when complete), so an interrupted run resumes with
the episodes it already finished. Excluded episodes keep only their report.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from psi0_common import action_layout as al
from psi0_common import g1
from psi0_training.data.bagio import BagError, BagInfo
from psi0_training.data.config import ConvertConfig, FeatureTiming, QualityThresholds, config_hash
from psi0_training.data.extract import LOWSTATE_MOTORS, extract
from psi0_training.data.resample import align, effective_times, feature_quality, longest_run, make_grid
from psi0_training.data.video import VideoWriter

REQUIRED = ("image", "action", "lowstate", "left_hand", "right_hand")
CLOCK_OFFSET_SHIFT_S = 1.0  # header clock this far from the recorder clock: shift receive-timed streams
_WAIST = [LOWSTATE_MOTORS.index(m) for m in (g1.WAIST_ROLL, g1.WAIST_PITCH, g1.WAIST_YAW)]
_ARMS = [LOWSTATE_MOTORS.index(m) for m in range(g1.LEFT_ARM.start, g1.RIGHT_ARM.stop)]


def episode_key(info: BagInfo, cfg: ConvertConfig) -> str:
    return f"{info.fingerprint[:16]}-{config_hash(cfg)}"


def build_state(hand_l, hand_r, lowstate, base_height) -> np.ndarray:
    """32-D state: 14 hand q, 14 arm q, torso roll/pitch/yaw (waist motors 13, 14, 12), base height."""
    state = np.empty((len(lowstate), al.STATE_DIM), np.float64)
    state[:, 0:7], state[:, 7:14] = hand_l, hand_r
    state[:, al.STATE_ARMS] = lowstate[:, _ARMS]
    state[:, al.STATE_TORSO_RPY] = lowstate[:, _WAIST]
    state[:, al.STATE_BASE_HEIGHT] = base_height
    return state


def _exclusion_reasons(report: dict, th: QualityThresholds) -> list[str]:
    q, reasons = report["quality"], []
    if q["frames"] < th.min_frames:
        reasons.append(f"{q['frames']} frames < min_frames {th.min_frames}")
    for name, f in q["features"].items():
        if f["max_gap_s"] > th.max_gap_s:
            reasons.append(f"{name}: gap of {f['max_gap_s']:.3f} s > max_gap_s {th.max_gap_s}")
        if q["frames"] and f["gap_frames"] / q["frames"] > th.max_gap_fraction:
            reasons.append(f"{name}: {f['gap_frames']}/{q['frames']} gap frames > max_gap_fraction "
                           f"{th.max_gap_fraction}")
        if f["samples"] and f["clock_fallback"] / f["samples"] > th.max_clock_fallback_fraction:
            reasons.append(f"{name}: {f['clock_fallback']}/{f['samples']} header stamps replaced by receive "
                           f"time > max_clock_fallback_fraction {th.max_clock_fallback_fraction}")
    if q["max_frozen_image_s"] > th.max_frozen_s:
        reasons.append(f"camera frozen for {q['max_frozen_image_s']:.2f} s > max_frozen_s {th.max_frozen_s}")
    if q["frames"] and q["nan_frames"] / q["frames"] > th.max_nan_fraction:
        reasons.append(f"{q['nan_frames']} frames with NaN/inf in state or action > max_nan_fraction "
                       f"{th.max_nan_fraction}")
    if th.require_task and not report["task"]:
        reasons.append("no task string (metadata custom_data 'task' or a task topic message)")
    return reasons


def convert_episode(info: BagInfo, cfg: ConvertConfig, th: QualityThresholds, work: Path,
                    progress: bool = False) -> dict:
    """Convert one bag into `work/<key>/`; returns its report. BagError for unreadable bags."""
    key = episode_key(info, cfg)
    final = work / key
    if (final / "report.json").is_file():
        return _load_report(final, th)
    tmp = work / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        report = _convert(info, cfg, tmp, progress)
        (tmp / "frames.raw").unlink(missing_ok=True)
        (tmp / "report.json").write_text(json.dumps(report, indent=1))
        if final.exists():          # another process finished the same episode first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _load_report(final, th)


def _load_report(d: Path, th: QualityThresholds) -> dict:
    """Reports are stored without a verdict; thresholds are applied on load, so changing them needs no reconversion."""
    report = json.loads((d / "report.json").read_text())
    report["episode_dir"] = str(d)
    reasons = list(report["precheck_reasons"])
    if th.exclude_discarded and str(report["custom_data"].get("discarded", "")).lower() == "true":
        reasons.append("discarded by the operator when recording (custom_data discarded=true)")
    if report.get("quality"):
        reasons += _exclusion_reasons(report, th)
    report["exclusion_reasons"] = reasons
    report["included"] = not report["exclusion_reasons"]
    return report


def _task(info: BagInfo, tasks: list[str]) -> tuple[str, str]:
    if str(info.custom.get("task", "")).strip():
        return str(info.custom["task"]).strip(), "metadata"
    for t in tasks:
        if t.strip():
            return t.strip(), "topic"
    return "", "none"


def _convert(info: BagInfo, cfg: ConvertConfig, out: Path, progress: bool) -> dict:
    t_start = time.perf_counter()
    # The full content hash runs on another core while the bag is decoded (hashlib releases the GIL).
    with ThreadPoolExecutor(1) as pool:
        sha = pool.submit(info.sha256)
        report = _convert_inner(info, cfg, out, progress)
        report["sha256"] = sha.result()
    report["convert_seconds"] = time.perf_counter() - t_start
    return report


def _convert_inner(info: BagInfo, cfg: ConvertConfig, out: Path, progress: bool) -> dict:
    ex = extract(info, cfg, out, progress)
    task, task_source = _task(info, ex.task_messages)
    report = {"source": str(info.path), "fingerprint": info.fingerprint, "size_bytes": info.size_bytes,
              "storage": info.storage, "task": task, "task_source": task_source,
              "operator": str(info.custom.get("operator", "")), "custom_data": info.custom,
              "type_sources": ex.type_sources, "topic_counts": ex.topic_counts,
              "missing_topics": [getattr(cfg, f"{f}_topic") for f in ex.missing if f in REQUIRED],
              "precheck_reasons": [], "quality": None}
    if report["missing_topics"]:
        report["precheck_reasons"].append("missing topic(s): " + ", ".join(report["missing_topics"]))
        return report
    timed = {f: effective_times(np.asarray(s.recv_ns), None if s.header_ns is None else np.asarray(s.header_ns),
                                cfg.clock_jump_s) for f, s in ex.streams.items()}
    offset = timed["image"].skew_median_s
    if abs(offset) > CLOCK_OFFSET_SHIFT_S:  # header clock is not the recorder clock
        for f, s in ex.streams.items():
            if s.header_ns is None:
                timed[f].t_ns = timed[f].t_ns - int(offset * 1e9)
    timing = {f: cfg.timing("image" if f == "image" else "action" if f == "action" else "state")
              for f in REQUIRED}
    spans = []
    for f in REQUIRED[1:]:
        t, tol = timed[f].t_ns, timing[f].tolerance_s * 1e9
        spans.append((t[0] - (tol if timing[f].policy == "nearest" else 0), t[-1] + tol))
    if cfg.trim_start_s or cfg.trim_end_s:
        cam = timed["image"].t_ns
        spans.append((cam[0] + cfg.trim_start_s * 1e9, cam[-1] - cfg.trim_end_s * 1e9))
    ticks = make_grid(timed["image"].t_ns, cfg.fps, spans)
    n = len(ticks)
    report["trimmed"] = {"camera_frames": len(timed["image"].t_ns), "frames": n}
    if n == 0:
        report["precheck_reasons"].append("no time span where every topic has data")
        return report
    dims = {"action": 36, "lowstate": len(LOWSTATE_MOTORS), "left_hand": 7, "right_hand": 7}
    aligned, features = {}, {}
    for f in REQUIRED:
        s = ex.streams[f]
        vals = None if f == "image" else np.asarray(s.values, np.float64).reshape(-1, dims[f])[timed[f].order]
        aligned[f] = align(timed[f].t_ns, ticks, timing[f], vals)
        features[f] = feature_quality(f, s.topic, timed[f], aligned[f], ticks, cfg.fps, timing[f], s.bad_messages)
        if s.bad_reason:
            features[f]["bad_reason"] = s.bad_reason
    act_vals = np.asarray(ex.streams["action"].values, np.float64).reshape(-1, 36)[timed["action"].order]
    base_h = align(timed["action"].t_ns, ticks, FeatureTiming("previous", cfg.action_tolerance_s),
                   act_vals[:, al.BASE_HEIGHT:al.BASE_HEIGHT + 1]).values[:, 0]
    state = build_state(aligned["left_hand"].values, aligned["right_hand"].values, aligned["lowstate"].values, base_h)
    action = aligned["action"].values
    nan_frames = int((~np.isfinite(state).all(1) | ~np.isfinite(action).all(1)).sum())

    frame_idx = timed["image"].order[aligned["image"].index]      # arrival index of each tick's frame
    diffs = np.asarray(ex.frame_diff)[timed["image"].order]
    frozen = longest_run(diffs < cfg.frozen_image_mad) / cfg.fps
    hist = _write_frames(ex.frames_path, frame_idx, cfg, out)

    np.savez(out / "episode.npz", state=state.astype(np.float32), action=action.astype(np.float32),
             source_time_ns=ticks, image_hist=hist)
    report["quality"] = {
        "frames": n, "duration_s": n / cfg.fps, "features": features, "nan_frames": nan_frames,
        "max_frozen_image_s": frozen, "grid_start_ns": int(ticks[0]),
        "state_base_height_source": "action[31] (commanded; no height measurement in the bag)",
    }
    return report


def channel_histograms(img: np.ndarray) -> np.ndarray:
    """(3, 256) exact pixel counts of an HxWx3 uint8 image (cv2.calcHist counts in float32: exact below 2^24)."""
    return np.stack([np.ravel(cv2.calcHist([img], [c], None, [256], [0, 256])) for c in range(3)]).astype(np.int64)


def _write_frames(raw_path: Path, frame_idx: np.ndarray, cfg: ConvertConfig, out: Path) -> np.ndarray:
    """Frames in tick order -> raw uint8 .npy and/or mp4; returns per-channel histograms (3, 256).

    Plain reads and writes, no memory maps: touched pages of a mapping count as resident memory,
    which would grow with the episode length.
    """
    h, w = cfg.image_height, cfg.image_width
    size = h * w * 3
    img = np.empty((h, w, 3), np.uint8)
    hist = np.zeros((3, 256), np.int64)
    video = VideoWriter(out / "video.mp4", cfg.fps, h, w, cfg.video_crf, cfg.video_gop,
                        cfg.video_preset) if cfg.store_video else None
    raw = open(out / "frames.npy", "wb") if cfg.store_raw_images else None
    try:
        if raw is not None:
            np.lib.format.write_array_header_1_0(
                raw, {"descr": "|u1", "fortran_order": False, "shape": (len(frame_idx), h, w, 3)})
        with open(raw_path, "rb") as src:
            last = -1
            for j in frame_idx:
                if j != last:                     # a held frame repeats the buffer as it is
                    src.seek(int(j) * size)
                    if src.readinto(memoryview(img).cast("B")) != size:
                        raise BagError(f"scratch frame {j} is short")
                    last = j
                if raw is not None:
                    raw.write(memoryview(img).cast("B"))
                if video is not None:
                    video.write(img)
                hist += channel_histograms(img)
    finally:
        if video is not None:
            video.close()
        if raw is not None:
            raw.close()
    return hist
