"""Typed converter configuration: what to read from a bag and how to resample it.

Frozen dataclasses whose fields carry their docs (psi0_common.config.param), so
the converter config stored in a dataset's provenance is the full truth about
how it was made. Changing any field changes `config_hash`, and a re-run with a
different config does not reuse episodes converted with the old one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from psi0_common import topics
from psi0_common.config import ConfigError, param, validate

FILL_POLICIES = ("nearest", "previous", "linear")


@dataclass(frozen=True)
class FeatureTiming:
    """How one source stream is put onto the 30 Hz grid."""

    policy: str = param("previous", "nearest sample, last sample at or before the tick, or linear interpolation",
                         choices=FILL_POLICIES)
    tolerance_s: float = param(0.05, "a tick whose chosen sample is further away than this is a gap (s)",
                               low=0.0, high=10.0)

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class QualityThresholds:
    """An episode beyond any of these is excluded from the dataset and listed with the reason."""

    min_frames: int = param(15, "fewer 30 Hz frames than this", low=1)
    max_gap_s: float = param(0.5, "longest run of ticks without a sample within tolerance, any feature (s)",
                             low=0.0)
    max_gap_fraction: float = param(0.1, "fraction of ticks that are gaps, any feature", low=0.0, high=1.0)
    max_frozen_s: float = param(2.0, "longest run of identical consecutive camera images (s)", low=0.0)
    max_nan_fraction: float = param(0.0, "fraction of frames with a NaN/inf in state or action", low=0.0,
                                    high=1.0)
    max_clock_fallback_fraction: float = param(0.2, "fraction of header stamps replaced by receive time",
                                               low=0.0, high=1.0)
    require_task: bool = param(True, "exclude episodes without a task string")
    exclude_discarded: bool = param(True, "exclude episodes the recorder marked discarded (custom_data "
                                          "discarded=true)")

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class ConvertConfig:
    fps: int = param(30, "frame rate of the output grid (Hz)", low=1, high=1000)
    image_topic: str = param(topics.IMAGE, "sensor_msgs/Image topic whose clock drives the grid")
    image_height: int = param(240, "stored image height (px)", low=8, high=4096)
    image_width: int = param(320, "stored image width (px)", low=8, high=4096)
    image_key: str = param("observation.images.head", "dataset feature name of the camera")
    store_video: bool = param(True, "write LeRobot-style mp4 (H.264) per episode")
    store_raw_images: bool = param(True, "write raw uint8 .npy image shards for fast random access in training")
    video_crf: int = param(20, "x264 constant rate factor (lower = better, larger)", low=0, high=51)
    video_preset: str = param("ultrafast", "x264 speed preset", choices=("ultrafast", "superfast", "veryfast",
                                                                       "faster", "fast", "medium"))
    video_gop: int = param(10, "keyframe interval (frames); small = faster random seeks", low=1, high=600)
    action_topic: str = param(topics.ACTION, "psi0_msgs/WholeBodyAction topic")
    lowstate_topic: str = param(topics.LOWSTATE, "unitree_hg/LowState topic (arms, waist)")
    left_hand_topic: str = param(topics.DEX3_STATE["left"], "unitree_hg/HandState of the left Dex3")
    right_hand_topic: str = param(topics.DEX3_STATE["right"], "unitree_hg/HandState of the right Dex3")
    task_topic: str = param(topics.TASK, "std_msgs/String task, used when the bag metadata has no 'task'")
    image_tolerance_s: float = param(0.05, "camera frame further than this from its tick is a gap (s)", low=0.0)
    action_tolerance_s: float = param(0.05, "action further than this from its tick is a gap (s)", low=0.0)
    state_tolerance_s: float = param(0.05, "joint state older than this at its tick is a gap (s)", low=0.0)
    action_policy: str = param("nearest", "fill policy of the action", choices=FILL_POLICIES)
    state_policy: str = param("previous", "fill policy of joint states (causal by default)", choices=FILL_POLICIES)
    clock_jump_s: float = param(0.25, "a header stamp whose offset to its receive time departs from the "
                                      "topic's median offset by more than this is replaced by receive time (s)",
                                low=0.0)
    frozen_image_mad: float = param(0.5, "mean absolute pixel difference below which two consecutive "
                                         "camera frames count as identical (0-255 scale)", low=0.0)
    chunk_size: int = param(1000, "episodes per chunk-XXX directory", low=1)
    trim_start_s: float = param(0.0, "drop this much of every episode's start (s), e.g. an operator's calibration "
                                     "ritual recorded before the task begins", low=0.0)
    trim_end_s: float = param(0.0, "drop this much of every episode's end (s), e.g. standing still after the task",
                              low=0.0)

    def __post_init__(self):
        validate(self)
        if not self.image_key.startswith("observation.images."):
            raise ConfigError("ConvertConfig.image_key must start with 'observation.images.'")

    def timing(self, feature: str) -> FeatureTiming:
        if feature == "image":
            return FeatureTiming("nearest", self.image_tolerance_s)
        if feature == "action":
            return FeatureTiming(self.action_policy, self.action_tolerance_s)
        return FeatureTiming(self.state_policy, self.state_tolerance_s)


def config_dict(cfg: ConvertConfig, thresholds: QualityThresholds) -> dict:
    return {"convert": asdict(cfg), "quality": asdict(thresholds)}


def config_hash(cfg: ConvertConfig) -> str:
    """Hash of everything that changes an episode's converted content (thresholds only gate inclusion)."""
    blob = json.dumps(asdict(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
