"""Episode recorder core: serialized messages -> one rosbag2 (MCAP) per episode, via rosbags.

ROS-free: the node hands over (topic, type, CDR bytes, receive time). A writer
thread owns the open bag, so subscription callbacks only count and enqueue.
The bag is rosbag2 version 9 with the message definitions embedded (readable
by `ros2 bag` and by rosbags); `custom_data` in metadata.yaml carries the
task, the operator, start/stop times, whether the episode was discarded and
the per-topic report. Open chunks are flushed to disk every
`flush_interval` seconds, and `close()` (SIGINT) finishes the bag cleanly.
"""
from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from psi0_teleop.pubcount import LossEstimate, estimate_loss, key_from_cdr


class RecorderError(RuntimeError):
    """A start/stop request that cannot be honoured; the message says why."""


def _msg_files(pkg: str) -> list[Path]:
    dirs = []
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / pkg)
    return dirs


def make_typestore(extra_packages=("psi0_msgs", "unitree_hg")):
    """rosbags typestore for ROS 2 Kilted plus this workspace's interface packages (from share/*/msg)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for pkg in extra_packages:
        for d in _msg_files(pkg):
            mdir = d / "msg"
            if not mdir.is_dir():
                continue
            for f in sorted(mdir.glob("*.msg")):
                types.update(get_types_from_msg(f.read_text(), f"{pkg}/msg/{f.stem}"))
            break
    if types:
        store.register(types)
    return store


def slug(text: str, n: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return s[:n] or "episode"


@dataclass
class TopicStats:
    msgtype: str = ""
    received: int = 0      # callbacks while recording
    enqueued: int = 0
    dropped_queue_full: int = 0
    written: int = 0
    keys: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TopicReport:
    topic: str
    msgtype: str
    received: int
    written: int
    dropped_queue_full: int
    published: int | None
    lost: int | None
    checked_fraction: float
    note: str


@dataclass(frozen=True)
class EpisodeReport:
    path: str
    task: str
    operator: str
    discarded: bool
    duration: float
    topics: list[TopicReport]
    missing_topics: list[str]
    write_errors: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def table(self) -> str:
        rows = [f"episode {self.path} ({self.duration:.1f} s, task {self.task!r}, operator {self.operator!r}"
                + (", DISCARDED" if self.discarded else "") + ")",
                f"{'topic':40s} {'published':>10s} {'received':>9s} {'written':>8s} {'lost':>6s}  note"]
        for t in self.topics:
            pub = "n/a" if t.published is None else str(t.published)
            lost = "n/a" if t.lost is None else str(t.lost)
            note = t.note or (f"checked {100 * t.checked_fraction:.0f}% of the episode" if t.published is not None
                              else "")
            rows.append(f"{t.topic:40s} {pub:>10s} {t.received:>9d} {t.written:>8d} {lost:>6s}  {note}")
        for m in self.missing_topics:
            rows.append(f"{m:40s} {'-':>10s} {0:>9d} {0:>8d} {'-':>6s}  no message recorded")
        if self.write_errors:
            rows.append(f"WRITE ERRORS: {self.write_errors}")
        return "\n".join(rows)


class _Episode:
    def __init__(self, path: Path, storage: str, typestore, task: str, operator: str):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = path
        self.writer = Writer(path, version=9,
                             storage_plugin=StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3)
        self.writer.open()
        self.typestore = typestore
        self.connections = {}
        self.task, self.operator = task, operator
        self.t_start = time.time()
        self.t_stop: float | None = None
        self.stats: dict[str, TopicStats] = {}
        self.reports: dict[str, dict[str, list[tuple[int, int]]]] = {}  # topic -> node -> [(count, key)]
        self.discarded = False
        self.report: EpisodeReport | None = None
        self.write_errors = 0
        self.last_flush = time.monotonic()

    def write(self, topic: str, msgtype: str, raw: bytes, t_ns: int) -> None:
        conn = self.connections.get(topic)
        if conn is None:
            conn = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
            self.connections[topic] = conn
        self.writer.write(conn, t_ns, raw)
        self.stats[topic].written += 1

    def flush(self) -> None:
        """Push the pending MCAP chunk to the file so a crash loses at most `flush_interval` of data."""
        storage = getattr(self.writer, "storage", None)
        close_chunk = getattr(storage, "close_chunk", None)
        chunk = getattr(storage, "chunk", None)
        if callable(close_chunk) and chunk is not None and chunk.msgs:
            close_chunk()
        bio = getattr(storage, "bio", None)
        if bio is not None:
            bio.flush()
        self.last_flush = time.monotonic()


class EpisodeRecorder:
    """Thread-safe: `on_message` from any thread; `start`/`stop` from service or console threads."""

    def __init__(self, output_dir: str | Path, storage: str = "mcap", typestore=None, queue_size: int = 10000,
                 flush_interval: float = 1.0, topics: list[str] | None = None, log=print):
        self.output_dir = Path(output_dir)
        self.storage = storage
        self.typestore = typestore if typestore is not None else make_typestore()
        self.flush_interval = flush_interval
        self.expected_topics = list(topics or [])
        self.log = log
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._episode: _Episode | None = None
        self._draining: _Episode | None = None
        self._counter = 0
        self._stop_thread = threading.Event()
        self._thread = threading.Thread(target=self._run, name="episode-writer", daemon=True)
        self._thread.start()
        self.writer_error: str = ""

    # -- producer side ------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._episode is not None

    def on_message(self, topic: str, msgtype: str, raw: bytes, t_ns: int) -> None:
        ep = self._episode
        if ep is None:
            return
        with self._lock:
            if self._episode is not ep:
                return
            st = ep.stats.setdefault(topic, TopicStats(msgtype))
            st.received += 1
            key = key_from_cdr(msgtype, raw)
            if key is not None:
                st.keys.append(key)
            try:
                self.q.put_nowait((ep, topic, msgtype, raw, t_ns))
                st.enqueued += 1
            except queue.Full:
                st.dropped_queue_full += 1

    def on_counts(self, node: str, counts: dict[str, tuple[int, int]]) -> None:
        """A publisher's counts report; kept for the open episode and one that is draining."""
        with self._lock:
            for ep in {id(e): e for e in (self._episode, self._draining) if e is not None}.values():
                for topic, ck in counts.items():
                    ep.reports.setdefault(topic, {}).setdefault(node, []).append(ck)

    # -- control ------------------------------------------------------------------------
    def start(self, task: str, operator: str) -> str:
        with self._lock:
            if self._episode is not None:
                raise RecorderError(f"already recording {self._episode.path}")
            if self._draining is not None:
                raise RecorderError(f"still finishing {self._draining.path}")
            self.output_dir.mkdir(parents=True, exist_ok=True)
            while True:
                self._counter += 1
                path = self.output_dir / f"{time.strftime('%Y%m%d-%H%M%S')}_{self._counter:03d}_{slug(task)}"
                if not path.exists():
                    break
            self._episode = _Episode(path, self.storage, self.typestore, task, operator)
            return str(path)

    def stop(self, discard: bool = False, drain: float = 0.0, timeout: float = 60.0) -> EpisodeReport:
        """Stop the episode: no new messages from now, wait `drain` s for late publisher reports,
        then let the writer finish the bag (everything already received is written)."""
        with self._lock:
            ep = self._episode
            if ep is None:
                raise RecorderError("not recording")
            ep.t_stop = time.time()
            ep.discarded = discard
            self._episode = None
            self._draining = ep
        try:
            if drain > 0:
                time.sleep(drain)
        finally:
            with self._lock:
                self._draining = None
        done = threading.Event()
        self.q.put((ep, None, None, None, done))
        if not done.wait(timeout):
            raise RecorderError(f"writer did not finish {ep.path} within {timeout} s")
        return ep.report

    def close(self) -> EpisodeReport | None:
        """Finish an open episode (e.g. on SIGINT) and stop the writer thread."""
        report = None
        if self._episode is not None:
            try:
                report = self.stop(discard=False)
            except RecorderError as exc:
                self.log(f"closing the recorder: {exc}")
        self._stop_thread.set()
        self.q.put(None)
        self._thread.join(timeout=30.0)
        return report

    # -- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self.q.get(timeout=0.1)
            except queue.Empty:
                item = False
            if item is None:
                return
            if item is False:
                ep = self._episode
                if ep is not None and time.monotonic() - ep.last_flush > self.flush_interval:
                    self._safe(ep, ep.flush)
                continue
            ep, topic, msgtype, raw, extra = item
            if topic is None:
                try:
                    self._finish(ep)
                finally:
                    extra.set()
                continue
            self._safe(ep, lambda: ep.write(topic, msgtype, raw, extra))
            if time.monotonic() - ep.last_flush > self.flush_interval:
                self._safe(ep, ep.flush)

    def _safe(self, ep: _Episode, fn) -> None:
        try:
            fn()
        except Exception as exc:  # a write error must not kill the thread; it is reported
            ep.write_errors += 1
            self.writer_error = f"{ep.path}: {type(exc).__name__}: {exc}"
            self.log(f"recorder write error: {self.writer_error}")

    def _finish(self, ep: _Episode) -> None:
        report = self._report(ep)
        ep.report = report
        w = ep.writer
        for key, value in (("task", ep.task), ("operator", ep.operator), ("discarded", str(ep.discarded).lower()),
                           ("start_time", _iso(ep.t_start)), ("stop_time", _iso(ep.t_stop or time.time())),
                           ("recorder", "psi0_teleop.recorder"), ("topic_report", report.to_json())):
            w.set_custom_data(key, value)
        try:
            w.close()
        except Exception as exc:
            self.writer_error = f"{ep.path}: closing failed: {exc}"
            self.log(f"recorder close error: {self.writer_error}")

    def _report(self, ep: _Episode) -> EpisodeReport:
        topics = []
        with self._lock:
            for topic, st in sorted(ep.stats.items()):
                nodes = ep.reports.get(topic, {})
                reports = [r for rs in nodes.values() for r in rs]
                est: LossEstimate = estimate_loss(st.keys, reports, len(nodes))
                if est.published is None and not st.keys and nodes:
                    est = LossEstimate(None, None, None, 0.0, "message type has no counting key")
                topics.append(TopicReport(topic, st.msgtype, st.received, st.written, st.dropped_queue_full,
                                          est.published, est.lost, est.window_fraction, est.note))
        missing = [t for t in self.expected_topics if t not in ep.stats]
        duration = (ep.t_stop or time.time()) - ep.t_start
        return EpisodeReport(str(ep.path), ep.task, ep.operator, ep.discarded, duration, topics, missing,
                             ep.write_errors)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"
