"""End to end over real processes: the demo_record profile records one scripted episode.

Checks the loop closes (sim -> camera -> scripted operator -> teleop -> AMO bridge -> sim, recorder,
episode runner exiting 0 stops the graph) and the bag has every topic with nothing lost. Task success
is not asserted here (docs/demo.md has the measured rate).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TOPICS = ["/psi0/camera/image", "/lowstate", "/lf/dex3/left/state", "/lf/dex3/right/state", "/psi0/action",
          "/psi0/teleop/trackers", "/psi0/teleop/gloves"]


def test_demo_record_profile_writes_a_complete_bag(tmp_path):
    psi0 = Path(sys.executable).parent / "psi0"
    out = tmp_path / "rec"
    env = dict(os.environ, ROS_DOMAIN_ID=str(100 + os.getpid() % 100))
    cmd = [str(psi0), "launch", "demo_record", "--set", "episode_runner.episodes=1",
           "--set", "episode_runner.timeout=12.0", "--set", f"recorder.output_dir={out}",
           "--set", f"episode_runner.summary_path={out}/summary.json", "--duration", "80"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=100, env=env)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "required node episode_runner finished (exit 0)" in log, log[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 1 and summary["mode"] == "record"
    bags = [p for p in out.iterdir() if p.is_dir()]
    assert len(bags) == 1 and list(bags[0].glob("*.mcap"))
    meta = yaml.safe_load((bags[0] / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    for topic in TOPICS:
        assert counts.get(topic, 0) > 0, (topic, counts)
    assert counts["/lowstate"] > 1000 and counts["/psi0/teleop/trackers"] > 300 and counts["/psi0/action"] > 100
    report = json.loads(meta["custom_data"]["topic_report"])
    lost = {t["topic"]: t["lost"] for t in report["topics"] if isinstance(t.get("lost"), int)}
    assert lost and all(v == 0 for v in lost.values()), lost
    assert {"/psi0/action", "/psi0/teleop/trackers", "/psi0/teleop/gloves"} <= set(lost)
