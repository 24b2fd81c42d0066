import os
import subprocess
import time

import pytest

from psi0_bringup.monitor import MonitorConfig, RateTracker
from psi0_common.config import ConfigError


def test_rate_tracker_rates_and_levels():
    t = RateTracker("/x", expected_rate=90.0, window=1.0)
    for i in range(201):
        t.tick(i * 0.01)  # 100 Hz for 2 s
    r = t.report(2.0)
    assert r.rate_hz == pytest.approx(100.0, rel=1e-6) and r.level == "OK"
    assert r.max_gap_s == pytest.approx(0.01)
    slow = RateTracker("/y", expected_rate=90.0, window=1.0)
    for i in range(11):
        slow.tick(i * 0.1)
    assert slow.report(1.0).level == "WARN"
    assert slow.report(5.0).level == "STALE"


def test_monitor_config_checks_lengths():
    with pytest.raises(ConfigError, match="expected_rates has 1 entries but topics has 2"):
        MonitorConfig(topics=["/a", "/b"], expected_rates=[1.0])


def exe():
    for prefix in os.environ["AMENT_PREFIX_PATH"].split(os.pathsep):
        p = os.path.join(prefix, "lib/psi0_bringup/graph_monitor")
        if os.path.exists(p):
            return p
    pytest.fail("graph_monitor is not installed; run make setup")


def test_node_rejects_unknown_parameter():
    r = subprocess.run([exe(), "--ros-args", "-p", "report_perod:=1.0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown parameter 'report_perod' (did you mean 'report_period'?)" in r.stderr


def test_node_rejects_out_of_range_parameter():
    r = subprocess.run([exe(), "--ros-args", "-p", "report_period:=0.01"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "report_period" in r.stderr


@pytest.mark.realtime
def test_node_reports_rates_on_diagnostics(rclpy_context):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String

    node = rclpy.create_node("monitor_test", context=rclpy_context)
    pub = node.create_publisher(String, "/watched", 10)
    reports = []
    node.create_subscription(DiagnosticArray, "/diagnostics", reports.append, 10)
    child = subprocess.Popen([exe(), "--ros-args", "-p", "topics:=['/watched']", "-p", "expected_rates:=[50.0]",
                              "-p", "report_period:=0.5", "-p", "window:=1.0"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        executor = rclpy.executors.SingleThreadedExecutor(context=rclpy_context)
        executor.add_node(node)
        # publish at ~100 Hz without catch-up bursts, and judge the monitor against the rate this loop
        # really achieved over the monitor's 1 s window (a loaded machine slows the loop, not the monitor)
        sent: list[float] = []
        next_pub = time.monotonic()
        deadline = time.monotonic() + 30
        checked = 0
        good, last = None, None
        while time.monotonic() < deadline and good is None:
            now = time.monotonic()
            if now >= next_pub:
                pub.publish(String(data="x"))
                sent.append(now)
                next_pub = max(next_pub + 0.01, now - 0.005)
            executor.spin_once(timeout_sec=0.002)
            for msg in reports[checked:]:
                for st in msg.status:
                    values = {kv.key: kv.value for kv in st.values}
                    rate = float(values.get("rate_hz", 0.0)) if st.name.endswith("/watched") else 0.0
                    actual = sum(1 for t in sent if t > time.monotonic() - 1.0)
                    if rate > 0 and actual > 40 and sent[0] < time.monotonic() - 2.0:
                        last = (rate, actual)
                        if abs(rate - actual) < 0.25 * actual:
                            good = rate
            checked = len(reports)
        assert good is not None, f"no report within 25% of the sent rate in 30 s; last (reported, sent): {last}"
    finally:
        child.send_signal(2)
        out, _ = child.communicate(timeout=20)
        node.destroy_node()
    assert child.returncode == 0, out
