"""Record and replay operator sessions (JSON lines).

File format, one JSON object per line:
  {"kind": "header", "version": 1, "source": "...", "created": "..."}
  {"kind": "tracker", "t": 0.011, "estop": false, "engage": false,
   "poses": {"head": [x, y, z, qx, qy, qz, qw] | null, ...}}
  {"kind": "glove", "t": 0.008, "left": [20 floats] | null, "right": [...] | null}
`t` is seconds since the start of the session; poses are in the PICO frame.
Replay re-times the samples onto the consumer's clock: sample time =
first poll time + t, delivered when due.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from psi0_teleop.devices import (DeviceError, GloveHandSample, GloveSample, OperatorDevice, TRACKER_NAMES,
                                 TrackerSample)
from psi0_teleop.geometry import Pose

VERSION = 1


def tracker_to_json(s: TrackerSample, t0: float) -> dict:
    poses = {}
    for name in TRACKER_NAMES:
        p = s.poses.get(name)
        poses[name] = None if p is None else [*map(float, p.pos), *map(float, p.quat())]
    return {"kind": "tracker", "t": round(s.stamp - t0, 6), "estop": bool(s.estop), "engage": bool(s.engage),
            "poses": poses}


def glove_to_json(g: GloveSample, t0: float) -> dict:
    def hand(h: GloveHandSample):
        return [float(x) for x in h.ergonomics] if h.valid else None
    return {"kind": "glove", "t": round(g.stamp - t0, 6), "left": hand(g.left), "right": hand(g.right)}


def _tracker_from_json(d: dict, t0: float) -> TrackerSample:
    poses = {}
    for name in TRACKER_NAMES:
        v = d["poses"].get(name)
        poses[name] = None if v is None else Pose.from_xyzquat(v[:3], v[3:7])
    return TrackerSample(t0 + float(d["t"]), poses, bool(d.get("estop", False)), bool(d.get("engage", False)))


def _glove_from_json(d: dict, t0: float) -> GloveSample:
    def hand(v):
        if v is None:
            return GloveHandSample(False)
        a = np.asarray(v, float)
        if a.shape != (20,):
            raise ValueError(f"glove hand needs 20 values, got {a.shape}")
        return GloveHandSample(True, a)
    return GloveSample(t0 + float(d["t"]), hand(d.get("left")), hand(d.get("right")))


class SessionWriter:
    """Append samples to a session file as they are produced (line-buffered, crash-safe up to the last line)."""

    def __init__(self, path: str | Path, source: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = self.path.open("x", buffering=1)
        self.t0: float | None = None
        self.f.write(json.dumps({"kind": "header", "version": VERSION, "source": source,
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")

    def write(self, trackers: list[TrackerSample], gloves: list[GloveSample]) -> None:
        items = [(s.stamp, tracker_to_json, s) for s in trackers] + [(g.stamp, glove_to_json, g) for g in gloves]
        for stamp, fn, obj in sorted(items, key=lambda x: x[0]):
            if self.t0 is None:
                self.t0 = stamp
            self.f.write(json.dumps(fn(obj, self.t0)) + "\n")

    def close(self) -> None:
        if not self.f.closed:
            self.f.close()


def read_session(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise DeviceError(f"session file {p} does not exist")
    records = []
    with p.open() as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DeviceError(f"{p}:{n}: not JSON: {exc}") from exc
            if n == 1:
                if d.get("kind") != "header" or d.get("version") != VERSION:
                    raise DeviceError(f"{p}: not a psi0 operator session (version {VERSION}) file")
                continue
            if d.get("kind") not in ("tracker", "glove"):
                raise DeviceError(f"{p}:{n}: unknown record kind {d.get('kind')!r}")
            records.append(d)
    if not records:
        raise DeviceError(f"{p}: session has no samples")
    return sorted(records, key=lambda d: d["t"])


class ReplayDevice(OperatorDevice):
    name = "replay"

    def __init__(self, path: str | Path, loop: bool = False):
        self.records = read_session(path)
        self.loop = loop
        self.i = 0
        self.t0: float | None = None
        self.duration = float(self.records[-1]["t"])

    def poll(self, now: float) -> tuple[list[TrackerSample], list[GloveSample]]:
        if self.t0 is None:
            self.t0 = now - float(self.records[0]["t"])
        trackers, gloves = [], []
        while self.i < len(self.records) and self.t0 + self.records[self.i]["t"] <= now:
            d = self.records[self.i]
            try:
                if d["kind"] == "tracker":
                    trackers.append(_tracker_from_json(d, self.t0))
                else:
                    gloves.append(_glove_from_json(d, self.t0))
            except (KeyError, TypeError, ValueError) as exc:
                raise DeviceError(f"session record {self.i + 2} is malformed: {exc}") from exc
            self.i += 1
            if self.i == len(self.records) and self.loop:
                self.i = 0
                self.t0 += self.duration + 1.0 / 90.0
        return trackers, gloves

    def done(self) -> bool:
        return not self.loop and self.i >= len(self.records)
