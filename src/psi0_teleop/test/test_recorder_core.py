"""Episode recorder core: bag contents, metadata, honest loss accounting (messages built with rclpy)."""
import json

import numpy as np
import pytest

pytest.importorskip("rclpy")
from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from unitree_hg.msg import LowState  # noqa: E402

from psi0_teleop.pubcount import estimate_loss, key_from_cdr  # noqa: E402
from psi0_teleop.recorder import EpisodeRecorder, RecorderError  # noqa: E402

pytestmark = pytest.mark.ros
IMG, LS = "sensor_msgs/msg/Image", "unitree_hg/msg/LowState"


def image(k):
    m = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes([k % 256]) * 48)
    m.header.stamp.sec, m.header.stamp.nanosec = 1000 + k // 30, (k % 30) * 33_000_000
    return serialize_message(m)


def lowstate(tick):
    m = LowState()
    m.tick = tick
    return serialize_message(m)


def test_counting_keys_are_read_from_cdr():
    assert key_from_cdr(LS, lowstate(123456)) == 123456
    assert key_from_cdr(IMG, image(31)) == (1000 + 1) * 1_000_000_000 + 33_000_000
    assert key_from_cdr("std_msgs/msg/String", b"\x00\x01\x00\x00abcdefghijklmnop") is None


def test_episode_bag_contents_metadata_and_loss(tmp_path):
    from rosbags.rosbag2 import Reader

    rec = EpisodeRecorder(tmp_path, topics=["/img", "/lowstate", "/never"], flush_interval=0.05)
    path = rec.start("put the red cube in the box", "alice")
    with pytest.raises(RecorderError, match="already recording"):
        rec.start("x", "y")
    n_img, n_ls = 60, 1000
    for k in range(n_img):
        rec.on_message("/img", IMG, image(k), 10**9 + k)
        if k % 10 == 0:  # publisher report: (count so far, key of the last published)
            rec.on_counts("camera", {"/img": (k + 1, key_from_cdr(IMG, image(k)))})
    for k in range(n_ls):
        if k != 500:  # one lowstate message lost on the way
            rec.on_message("/lowstate", LS, lowstate(k), 10**9 + k)
        if k % 100 == 99:
            rec.on_counts("sim", {"/lowstate": (k + 1, k)})
    report = rec.stop(discard=False)
    by = {t.topic: t for t in report.topics}
    assert by["/img"].written == n_img and by["/img"].lost == 0 and by["/img"].published == 50
    assert by["/lowstate"].written == n_ls - 1 and by["/lowstate"].lost == 1
    assert report.missing_topics == ["/never"]
    assert "lost" in report.table() and "/never" in report.table()
    import yaml
    meta = yaml.safe_load((tmp_path / path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap" and meta["version"] == 9
    with Reader(path) as r:
        counts = {c.topic: c.msgcount for c in r.connections}
        assert counts == {"/img": n_img, "/lowstate": n_ls - 1}
        assert all(c.msgdef.data for c in r.connections)        # definitions embedded
        custom = meta["custom_data"]
        assert custom["task"] == "put the red cube in the box" and custom["operator"] == "alice"
        assert custom["discarded"] == "false"
        assert json.loads(custom["topic_report"])["topics"]
        ticks = [key_from_cdr(LS, bytes(raw)) for c, t, raw in r.messages() if c.topic == "/lowstate"]
    assert ticks == [k for k in range(n_ls) if k != 500]
    with pytest.raises(RecorderError, match="not recording"):
        rec.stop()
    rec.close()


def test_close_finishes_an_open_episode(tmp_path):
    from rosbags.rosbag2 import Reader

    rec = EpisodeRecorder(tmp_path)
    path = rec.start("task", "bob")
    for k in range(100):
        rec.on_message("/lowstate", LS, lowstate(k), 10**9 + k)
    report = rec.close()   # what SIGINT does
    assert report is not None and report.topics[0].written == 100
    with Reader(path) as r:
        assert sum(c.msgcount for c in r.connections) == 100


def test_loss_estimate_rules():
    assert estimate_loss([1, 2, 3], [], 0).published is None
    assert "2 publishers" in estimate_loss([1, 2, 3], [(1, 1), (3, 3)], 2).note
    keys = list(range(10, 20))
    est = estimate_loss(keys, [(5, 9), (6, 10), (11, 15), (15, 19), (16, 20)], 1)
    assert est.published == 9 and est.recorded == 9 and est.lost == 0     # window (10, 19]
    est = estimate_loss([k for k in keys if k != 12], [(6, 10), (15, 19)], 1)
    assert est.lost == 1
