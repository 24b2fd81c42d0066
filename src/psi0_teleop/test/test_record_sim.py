"""The teleop_record profile against the real simulator: an episode with every topic and no lost message.

Starts the profile's processes (psi0_sim, camera, AMO bridge, synthetic operator, teleop, recorder)
with the bringup runner, like `psi0 launch teleop_record`, in this test run's own ROS domain.
"""
import io
import json
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.realtime]


def test_teleop_record_profile_records_an_episode_from_the_sim(rclpy_context, tmp_path):
    import yaml
    from psi0_msgs.msg import WholeBodyAction
    from psi0_msgs.srv import StartEpisode, StopEpisode
    from rclpy.executors import SingleThreadedExecutor
    from rosbags.rosbag2 import Reader
    from std_msgs.msg import String

    from psi0_bringup.profile import load_profile
    from psi0_bringup.runner import GraphRunner
    from psi0_common import topics
    from psi0_common.config import ConfigError

    try:
        profile = load_profile("teleop_record", overrides=[f"recorder.output_dir={tmp_path / 'rec'}",
                                                           "graph_monitor.report_period=30.0"])
        log = io.StringIO()
        runner = GraphRunner(profile, tmp_path / "run", out=log, stop_timeout=10.0)
    except ConfigError as exc:
        pytest.skip(f"teleop_record profile cannot start here: {exc}")
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("code", runner.run()), daemon=True)
    th.start()
    node = rclpy.create_node("record_sim_test", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    actions = []
    node.create_subscription(WholeBodyAction, topics.ACTION, actions.append, 50)
    task_pub = node.create_publisher(String, topics.TASK, 10)
    node.create_timer(0.5, lambda: task_pub.publish(String(data="put the red cube in the box")))

    def spin_until(cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not cond():
            ex.spin_once(timeout_sec=0.05)
        return cond()

    def call(srv, name, req):
        cli = node.create_client(srv, name)
        assert spin_until(lambda: cli.service_is_ready(), 60.0), f"{name} not available\n{log.getvalue()[-3000:]}"
        fut = cli.call_async(req)
        assert spin_until(fut.done, 60.0), f"{name} timed out"
        return fut.result()

    try:
        assert spin_until(lambda: len(actions) > 30, 120.0), \
            f"no teleop actions from the sim graph\n{log.getvalue()[-4000:]}"
        spin_until(lambda: False, 3.0)   # let the recorder subscribe /psi0/task
        start = call(StartEpisode, topics.START_EPISODE, StartEpisode.Request(task="", operator_name="synthetic"))
        assert start.success, start.message
        spin_until(lambda: False, 6.0)
        stop = call(StopEpisode, topics.STOP_EPISODE, StopEpisode.Request(discard=False))
        assert stop.success, stop.message
    finally:
        runner.request_stop("test done")
        th.join(timeout=60.0)
        ex.shutdown()
        node.destroy_node()
    meta = yaml.safe_load((tmp_path / "rec" / stop.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["custom_data"]["task"] == "put the red cube in the box"     # from /psi0/task
    report = json.loads(meta["custom_data"]["topic_report"])
    assert not report["missing_topics"], report
    assert report["write_errors"] == 0
    by = {t["topic"]: t for t in report["topics"]}
    for t in by.values():
        assert t["written"] == t["received"] > 0, t
    for topic in (topics.ACTION, topics.TRACKERS, topics.GLOVES):
        assert by[topic]["published"] and by[topic]["lost"] == 0, by[topic]
    with Reader(stop.path) as r:
        counts = {c.topic: c.msgcount for c in r.connections}
    assert set(counts) == set(by) and min(counts.values()) > 0
    assert result.get("code") == 0, log.getvalue()[-3000:]
