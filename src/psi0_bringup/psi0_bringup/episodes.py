"""Seeded episodes and their statistics (ROS-free).

The episode runner node resets the simulated scene with each seed, lets the
driver (policy or scripted demonstrator) act, and judges the episode by the
sim's task detector. This module holds what does not need ROS: the config,
one episode's result, success-rate confidence intervals and the summary.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from psi0_common.config import param, validate


@dataclass(frozen=True)
class EpisodeRunnerConfig:
    mode: str = param("eval", "record: demonstrations are recorded through the recorder's services; "
                              "eval: the policy drives and episodes are only scored.", choices=("eval", "record"))
    episodes: int = param(3, "Number of episodes to run, then the node exits (the graph stops).", low=1, high=100000)
    first_seed: int = param(1000, "Seed of the first episode; episode i uses first_seed + i.", low=0, high=2**31 - 1)
    task: str = param("cube_in_box", "Task name passed to the sim's reset service.")
    instruction: str = param("", "Language instruction; empty = the task's own instruction from TaskState.")
    operator_name: str = param("scripted", "Operator name stored in recorded episodes.")
    timeout: float = param(20.0, "Seconds an episode may last before it counts as a failure.", low=1.0, high=3600.0)
    success_hold: float = param(0.5, "Seconds the success condition must hold to end an episode early.",
                                low=0.0, high=60.0)
    settle: float = param(1.0, "Seconds after a reset before the driver is started.", low=0.0, high=60.0)
    return_time: float = param(0.0, "Seconds the standing action is held after an episode before the next reset "
                                    "(driver policy/hold), so the arms are back where a reset puts them: a "
                                    "reset teleports the joints and a raised arm would jump.", low=0.0, high=60.0)
    rearm_bridge: bool = param(False, "Sim only: after each reset call the AMO bridge's reset (/psi0/estop_reset), so "
                                      "a fault latched in one episode does not carry into the next; the bridge then "
                                      "ramps (2 s) within `settle`. Logged when it re-arms.")
    service_timeout: float = param(20.0, "Seconds to wait for a service (sim reset, recorder, policy).",
                                   low=0.5, high=600.0)
    driver: str = param("policy", "Who acts during an episode: policy (activated and deactivated around it via "
                                  "its lifecycle), hold (this node publishes the standing action: the hold-still "
                                  "baseline), teleop (the teleop node; this node publishes no action).",
                        choices=("policy", "hold", "teleop"))
    policy_node: str = param("psi0_policy", "Name of the policy lifecycle node (for <name>/change_state).")
    policy_configure_timeout: float = param(300.0, "Seconds the policy may take to configure (load + warm up).",
                                            low=1.0, high=3600.0)
    summary_path: str = param("", "Where to write the JSON summary (rewritten after every episode, so a run "
                                  "stopped part-way keeps its results); empty = do not write.")
    video_path: str = param("", "Write the head-camera frames of every episode to this MP4; empty = no video.")
    video_episodes: int = param(1, "How many episodes (from the first) go into the video.", low=1, high=1000)
    label: str = param("", "Name of this run in the summary (e.g. rtc, naive, sync, hold).")

    def __post_init__(self):
        validate(self)


@dataclass
class EpisodeResult:
    index: int
    seed: int
    success: bool
    duration: float          # seconds from driver start to end
    time_to_success: float   # seconds, or NaN when it never succeeded
    reason: str              # success | timeout | error: ...
    bag_path: str = ""
    action_rate_hz: float = math.nan   # /psi0/action messages from the driver per second
    lowcmd_rate_hz: float = math.nan   # /lowcmd messages per second
    latency_mean_s: float = math.nan   # policy inference latency over the episode's chunks
    latency_max_s: float = math.nan
    seam_jump_max_rad: float = math.nan  # largest joint jump at a chunk switch (from the action stream)
    seam_jump_mean_rad: float = math.nan  # mean over the episode's chunk switches
    step_median_rad: float = math.nan    # median joint step between ticks inside a chunk: the motion's own speed
    switches: int = 0                    # chunk switches seen in the action stream
    late_switches: int = 0               # of those, landed past the new chunk's frozen prefix (all naive ones)
    seam_jump_on_time_mean_rad: float = math.nan  # mean seam of the switches inside the prefix (rtc: ~ the step)
    dropped_ticks: int = 0             # control ticks without a fresh action
    predicates_seen: list = field(default_factory=list)  # task predicates true at some point (e.g. cube_lifted)


class ActionSeamMeter:
    """Seam jumps as the robot receives them: from the action stream itself (chunk_id, chunk_index, 36-D action),
    so every switch is counted once, whatever the policy's status reports. A seam is the largest joint change
    between the last action of one chunk and the first of the next (joint dims 0-30: hands, arms, torso, in rad);
    steps between ticks of the same chunk are the motion's own speed, the floor no seam can go below.

    With each chunk's frozen prefix length d (ActionChunk.delay_steps, `note_chunk`), a switch is late when the
    new chunk starts past its prefix (first index > d: inference took longer than the delay estimate, so the
    actions in between were generated, not the committed ones). Every naive switch is late (d = 0)."""

    JOINT_DIMS = slice(0, 31)
    HELD_INDEX = 0xFFFF   # chunk_index of a held action (dry buffer, sync pause)

    def __init__(self):
        self.seams: list[float] = []
        self.steps: list[float] = []
        self._switch_at: list[tuple[int, int]] = []   # (chunk_id, first index) per seam
        self._prefix: dict[int, int] = {}             # chunk_id -> d
        self._last: tuple[int, np.ndarray] | None = None

    def note_chunk(self, chunk_id: int, d: int) -> None:
        self._prefix[chunk_id] = d

    def add(self, chunk_id: int, action, index: int = HELD_INDEX) -> None:
        joints = np.asarray(action, dtype=np.float64)[self.JOINT_DIMS]
        if not np.all(np.isfinite(joints)):
            return   # the bridge refuses such an action; it is not part of the executed motion
        if self._last is not None:
            jump = float(np.max(np.abs(joints - self._last[1])))
            if chunk_id != self._last[0]:
                self.seams.append(jump)
                self._switch_at.append((chunk_id, index))
            else:
                self.steps.append(jump)
        self._last = (chunk_id, joints)

    def late(self) -> list[bool | None]:
        """Per seam: landed past the frozen prefix (None when the chunk's d or the index is unknown)."""
        out = []
        for chunk_id, index in self._switch_at:
            d = self._prefix.get(chunk_id)
            out.append(None if d is None or index == self.HELD_INDEX else index > d)
        return out

    def fill(self, result: "EpisodeResult") -> None:
        result.switches = len(self.seams)
        if self.seams:
            result.seam_jump_mean_rad = float(np.mean(self.seams))
            result.seam_jump_max_rad = float(np.max(self.seams))
        if self.steps:
            result.step_median_rad = float(np.median(self.steps))
        late = self.late()
        result.late_switches = sum(x is True for x in late)
        on_time = [s for s, x in zip(self.seams, late) if x is False]
        if on_time:
            result.seam_jump_on_time_mean_rad = float(np.mean(on_time))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class RunSummary:
    label: str
    mode: str
    task: str
    episodes: list[EpisodeResult] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    def as_dict(self) -> dict:
        n = len(self.episodes)
        lo, hi = wilson_interval(self.successes, n)
        seen: dict[str, int] = {}
        for e in self.episodes:
            for name in e.predicates_seen:
                seen[name] = seen.get(name, 0) + 1
        return {"label": self.label, "mode": self.mode, "task": self.task, "episodes": n,
                "successes": self.successes, "success_rate": self.successes / n if n else 0.0,
                "ci95": [lo, hi], "predicate_episodes": seen, "results": [asdict(e) for e in self.episodes],
                **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSummary":
        """A summary read back from its JSON (as_dict); result fields this version does not know are ignored."""
        names = {f.name for f in fields(EpisodeResult)}
        episodes = [EpisodeResult(**{k: v for k, v in r.items() if k in names}) for r in d["results"]]
        return cls(d["label"], d["mode"], d["task"], episodes)

    def control_line(self) -> str:
        """Control figures over all episodes: rates, latency, seam jumps, dropped ticks."""
        def agg(name, fn):
            vals = [getattr(e, name) for e in self.episodes if not math.isnan(getattr(e, name))]
            return fn(vals) if vals else math.nan
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        return (f"action {agg('action_rate_hz', mean):.1f} Hz, lowcmd {agg('lowcmd_rate_hz', mean):.1f} Hz, "
                f"inference latency mean {1e3 * agg('latency_mean_s', mean):.0f} ms / max "
                f"{1e3 * agg('latency_max_s', max):.0f} ms, seam jump mean {agg('seam_jump_mean_rad', mean):.3f} / max "
                f"{agg('seam_jump_max_rad', max):.3f} rad (step inside chunks {agg('step_median_rad', mean):.3f} rad; "
                f"late switches {sum(e.late_switches for e in self.episodes)}/{sum(e.switches for e in self.episodes)}), "
                f"dropped ticks {sum(e.dropped_ticks for e in self.episodes)}")

    def line(self) -> str:
        d = self.as_dict()
        return (f"{self.label or self.mode}: {d['successes']}/{d['episodes']} succeeded "
                f"({100 * d['success_rate']:.0f}%, 95% CI {100 * d['ci95'][0]:.0f}-{100 * d['ci95'][1]:.0f}%)")

    def write(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2, allow_nan=True))
        tmp.replace(path)
