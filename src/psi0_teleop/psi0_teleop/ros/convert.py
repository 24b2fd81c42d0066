"""psi0_msgs <-> psi0_teleop core types, and the publisher-count diagnostics message."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Pose as PoseMsg
from psi0_msgs.msg import GloveHand, GloveState, TrackerFrames, WholeBodyAction
from sensor_msgs.msg import JointState

from psi0_teleop.devices import GloveHandSample, GloveSample, TRACKER_NAMES, TrackerSample
from psi0_teleop.geometry import Pose
from psi0_teleop.pubcount import STATUS_PREFIX, PublishCounter, parse_values, stamp_key


def to_time(t: float) -> Time:
    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


def from_time(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _pose_msg(p: Pose | None) -> PoseMsg:
    m = PoseMsg()
    if p is None:
        m.orientation.w = 1.0
        return m
    m.position.x, m.position.y, m.position.z = map(float, p.pos)
    q = p.quat()
    m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w = map(float, q)
    return m


def tracker_to_msg(s: TrackerSample) -> TrackerFrames:
    msg = TrackerFrames()
    msg.header.stamp = to_time(s.stamp)
    msg.header.frame_id = "pico_world"
    for name in TRACKER_NAMES:
        setattr(msg, name, _pose_msg(s.poses.get(name)))
        setattr(msg, f"{name}_valid", s.valid(name))
    msg.estop_pressed = bool(s.estop)
    msg.engage_pressed = bool(s.engage)
    return msg


def tracker_from_msg(msg: TrackerFrames) -> TrackerSample:
    poses = {}
    for name in TRACKER_NAMES:
        if not getattr(msg, f"{name}_valid"):
            poses[name] = None
            continue
        m = getattr(msg, name)
        try:
            poses[name] = Pose.from_xyzquat((m.position.x, m.position.y, m.position.z),
                                            (m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w))
        except ValueError:  # zero or non-finite quaternion: treat as invalid
            poses[name] = None
    return TrackerSample(from_time(msg.header.stamp), poses, bool(msg.estop_pressed), bool(msg.engage_pressed))


def glove_to_msg(g: GloveSample) -> GloveState:
    msg = GloveState()
    msg.header.stamp = to_time(g.stamp)
    for side in ("left", "right"):
        h = g.hand(side)
        gh = GloveHand()
        gh.valid = bool(h.valid)
        gh.ergonomics = [float(x) for x in h.ergonomics]
        setattr(msg, side, gh)
    return msg


def glove_from_msg(msg: GloveState) -> GloveSample:
    def hand(h: GloveHand) -> GloveHandSample:
        return GloveHandSample(bool(h.valid), np.asarray(h.ergonomics, float))
    return GloveSample(from_time(msg.header.stamp), hand(msg.left), hand(msg.right))


def action_to_msg(action: np.ndarray, stamp: float, source: int = WholeBodyAction.SOURCE_TELEOP,
                  index: int = 0) -> WholeBodyAction:
    msg = WholeBodyAction()
    msg.header.stamp = to_time(stamp)
    msg.source = source
    msg.chunk_id = 0
    msg.chunk_index = int(index) % 65536
    msg.action = [float(x) for x in action]
    return msg


def joint_state(names: list[str], q: np.ndarray, stamp: float) -> JointState:
    msg = JointState()
    msg.header.stamp = to_time(stamp)
    msg.name = list(names)
    msg.position = [float(x) for x in q]
    return msg


def counts_msg(node_name: str, counter: PublishCounter, stamp: float) -> DiagnosticArray:
    arr = DiagnosticArray()
    arr.header.stamp = to_time(stamp)
    st = DiagnosticStatus(level=DiagnosticStatus.OK, name=STATUS_PREFIX + node_name, message="publisher counts",
                          hardware_id="")
    st.values = [KeyValue(key=t, value=v) for t, v in counter.values()]
    arr.status = [st]
    return arr


def counts_from_msg(msg: DiagnosticArray) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    out = []
    for st in msg.status:
        if st.name.startswith(STATUS_PREFIX):
            out.append((st.name[len(STATUS_PREFIX):], parse_values((kv.key, kv.value) for kv in st.values)))
    return out


def publish_operator_samples(trackers: list[TrackerSample], gloves: list[GloveSample], pub_trackers, pub_gloves,
                             counter: PublishCounter, trackers_topic: str, gloves_topic: str) -> None:
    """Publish operator samples and count each by its stamp, so the recorder can tell what it lost."""
    for pub, topic, samples, to_msg in ((pub_trackers, trackers_topic, trackers, tracker_to_msg),
                                        (pub_gloves, gloves_topic, gloves, glove_to_msg)):
        for sample in samples:
            msg = to_msg(sample)
            pub.publish(msg)
            counter.published(topic, stamp_key(msg.header.stamp.sec, msg.header.stamp.nanosec))
