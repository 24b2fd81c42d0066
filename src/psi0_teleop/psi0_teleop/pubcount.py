"""Publisher-side message counts, so the recorder can measure loss honestly.

A publisher keeps, per topic, how many messages it has published and the
*key* of the last one (its header stamp in ns, or LowState.tick), and
reports both a few times per second on COUNTS_TOPIC (diagnostic_msgs/
DiagnosticArray; one status per node named "psi0 published: <node>", one
KeyValue per topic with value "<count> <key>").

The recorder reads the same key from each serialized message it receives
(without deserializing: the CDR offset is fixed) and, for an episode,
compares two reports a and b that both fall inside the recorded range:
  published = count_b - count_a
  recorded  = recorded messages whose key is in (key_a, key_b]
Because a and b lie inside the recorded range, every message between them
was published while recording, so `published - recorded` is the number of
messages lost on the way (transport, queue or writer), not a boundary effect.
Keys must increase per publisher (stamps from a monotonic-enough clock, or
a tick); topics with several publishers are reported as not measurable.
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

COUNTS_TOPIC = "/psi0/published_counts"
STATUS_PREFIX = "psi0 published: "

# Message types whose first field is std_msgs/Header (key = stamp in ns).
HEADER_FIRST = {
    "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/JointState",
    "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Imu",
    "psi0_msgs/msg/WholeBodyAction", "psi0_msgs/msg/TrackerFrames", "psi0_msgs/msg/GloveState",
    "psi0_msgs/msg/ActionChunk", "psi0_msgs/msg/PolicyStatus", "psi0_msgs/msg/TaskState",
    "psi0_msgs/msg/SimBaseCommand",
}
LOWSTATE = "unitree_hg/msg/LowState"
LOWSTATE_TICK_OFFSET = 12  # uint32[2] version, uint8 mode_pr, uint8 mode_machine, pad to 4 -> tick at 12


def key_from_cdr(msgtype: str, raw: bytes) -> int | None:
    """The counting key of a serialized message, or None if the type has none."""
    if len(raw) < 16:
        return None
    little = raw[1] in (0x01, 0x03)  # CDR_LE / PL_CDR_LE encapsulation
    order = "<" if little else ">"
    if msgtype in HEADER_FIRST:
        sec, nsec = struct.unpack_from(order + "iI", raw, 4)
        return sec * 1_000_000_000 + nsec
    if msgtype == LOWSTATE:
        return struct.unpack_from(order + "I", raw, 4 + LOWSTATE_TICK_OFFSET)[0]
    return None


def stamp_key(sec: int, nanosec: int) -> int:
    return int(sec) * 1_000_000_000 + int(nanosec)


class PublishCounter:
    """Thread-safe per-topic publish counts with the key of the last message."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}

    def published(self, topic: str, key: int) -> None:
        with self._lock:
            c = self._counts.setdefault(topic, [0, 0])
            c[0] += 1
            c[1] = int(key)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            return {t: (c[0], c[1]) for t, c in self._counts.items()}

    def values(self) -> list[tuple[str, str]]:
        return [(t, f"{n} {k}") for t, (n, k) in self.snapshot().items()]


def parse_values(pairs) -> dict[str, tuple[int, int]]:
    """[(topic, "count key"), ...] -> {topic: (count, key)}; malformed entries are skipped."""
    out = {}
    for topic, value in pairs:
        try:
            n, k = value.split()
            out[topic] = (int(n), int(k))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class LossEstimate:
    published: int | None     # messages published between the two reports (None: not measurable)
    recorded: int | None      # of those, how many are in the bag
    lost: int | None
    window_fraction: float    # share of the recorded messages covered by the comparison
    note: str = ""


def estimate_loss(recorded_keys: list[int], reports: list[tuple[int, int]], publishers: int) -> LossEstimate:
    """Compare recorded keys with publisher reports (count, key) received while recording."""
    if publishers == 0 or not reports:
        return LossEstimate(None, None, None, 0.0, "no publisher count for this topic")
    if publishers > 1:
        return LossEstimate(None, None, None, 0.0, f"{publishers} publishers report this topic: not measurable")
    if not recorded_keys:
        return LossEstimate(None, 0, None, 0.0, "nothing recorded")
    lo, hi = min(recorded_keys), max(recorded_keys)
    inside = sorted({r for r in reports if lo <= r[1] <= hi}, key=lambda r: r[1])
    if len(inside) < 2:
        return LossEstimate(None, None, None, 0.0, "fewer than two publisher reports inside the episode")
    a, b = inside[0], inside[-1]
    published = b[0] - a[0]
    recorded = sum(1 for k in set(recorded_keys) if a[1] < k <= b[1])
    duplicates = len(recorded_keys) - len(set(recorded_keys))
    note = f"{duplicates} duplicate keys" if duplicates else ""
    return LossEstimate(published, recorded, published - recorded, recorded / len(recorded_keys), note)
