"""`psi0 launch`: start/stop, dying children, respawn, stubborn children, bad profiles.

Test nodes are small executables in a temporary ament prefix (lib/<pkg>/<exe>),
found the same way `ros2 run` and the runner find real nodes.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PSI0 = [sys.executable, "-m", "psi0_bringup.cli"]

SCRIPTS = {
    # Runs until SIGINT, then exits 0 like an rclpy node.
    "steady": """
        import signal, sys, time
        signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
        print("steady up", flush=True)
        while True: time.sleep(0.05)
    """,
    "crash": """
        import sys, time
        time.sleep(0.5); print("crashing", flush=True); sys.exit(3)
    """,
    "finish": """
        import time
        time.sleep(0.5); print("job done", flush=True)
    """,
    # Ignores SIGINT and SIGTERM: must be killed.
    "stubborn": """
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stubborn up", flush=True)
        while True: time.sleep(0.05)
    """,
    # Prints its ROS arguments so the test can check what the runner passed.
    "echo_args": """
        import signal, sys, time
        signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
        print("ARGS " + " ".join(sys.argv[1:]), flush=True)
        while True: time.sleep(0.05)
    """,
}


@pytest.fixture
def prefix(tmp_path):
    root = tmp_path / "prefix"
    (root / "share/ament_index/resource_index/packages").mkdir(parents=True)
    (root / "share/ament_index/resource_index/packages/fakepkg").touch()
    lib = root / "lib/fakepkg"
    lib.mkdir(parents=True)
    for name, body in SCRIPTS.items():
        exe = lib / name
        exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        exe.chmod(0o755)
    return root


def write_profile(tmp_path, nodes: dict, extra: str = "") -> Path:
    lines = ["description: test profile", extra, "nodes:"]
    for name, spec in nodes.items():
        lines.append(f"  {name}:")
        lines.append("    package: fakepkg")
        for k, v in spec.items():
            lines.append(f"    {k}: {v}")
    path = tmp_path / "profile.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def launch(prefix, args, timeout=60, **kw):
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{os.environ.get('AMENT_PREFIX_PATH', '')}",
               PSI0_LOG_DIR=str(prefix.parent / "runs"))
    return subprocess.run(PSI0 + ["launch", *args], env=env, capture_output=True, text=True, timeout=timeout, **kw)


def test_runs_for_duration_and_stops_cleanly(prefix, tmp_path):
    p = write_profile(tmp_path, {"a": {"executable": "steady"}, "b": {"executable": "steady"}})
    r = launch(prefix, [str(p), "--duration", "1.5"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[a] steady up" in r.stdout and "[b] steady up" in r.stdout
    assert "all nodes stopped; exit status 0" in r.stdout


def test_sigint_stops_the_graph(prefix, tmp_path):
    p = write_profile(tmp_path, {"a": {"executable": "steady"}})
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{os.environ['AMENT_PREFIX_PATH']}",
               PSI0_LOG_DIR=str(tmp_path / "runs"))
    proc = subprocess.Popen(PSI0 + ["launch", str(p)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = ""
    deadline = time.monotonic() + 30
    while "steady up" not in out and time.monotonic() < deadline:
        out += proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + rest
    assert "received SIGINT" in rest


def test_required_child_death_stops_graph_with_failure(prefix, tmp_path):
    p = write_profile(tmp_path, {"sim": {"executable": "steady"}, "bad": {"executable": "crash"}})
    t0 = time.monotonic()
    r = launch(prefix, [str(p)])
    assert r.returncode == 1, r.stdout
    assert "required node bad died with exit code 3" in r.stdout
    assert time.monotonic() - t0 < 20


def test_required_job_finishing_stops_graph_with_success(prefix, tmp_path):
    p = write_profile(tmp_path, {"sim": {"executable": "steady"}, "job": {"executable": "finish"}})
    r = launch(prefix, [str(p)])
    assert r.returncode == 0, r.stdout
    assert "[job] job done" in r.stdout and "required node job finished" in r.stdout


def test_optional_child_death_keeps_graph_and_respawns(prefix, tmp_path):
    p = write_profile(tmp_path, {"sim": {"executable": "steady"},
                                 "flaky": {"executable": "crash", "required": "false", "respawn": "true"}})
    r = launch(prefix, [str(p), "--duration", "5"])
    assert r.returncode == 0, r.stdout
    assert "respawn 1/3" in r.stdout and "respawn 2/3" in r.stdout
    assert "all nodes stopped; exit status 0" in r.stdout


def test_stubborn_child_is_killed_and_fails_the_run(prefix, tmp_path):
    p = write_profile(tmp_path, {"s": {"executable": "stubborn"}})
    r = launch(prefix, [str(p), "--duration", "1", "--stop-timeout", "0.5"])
    assert r.returncode == 1, r.stdout
    assert "still running 0.5 s after SIGINT" in r.stdout
    assert "s had to be killed" in r.stdout


def test_parameters_and_remappings_reach_the_node(prefix, tmp_path):
    p = write_profile(tmp_path, {"n": {"executable": "echo_args", "parameters": "{rate: 5.0, name: x}",
                                       "remappings": "{/in: /psi0/in}"}})
    r = launch(prefix, [str(p), "--duration", "1.5"])
    assert r.returncode == 0, r.stdout
    args_line = next(line for line in r.stdout.splitlines() if "ARGS" in line)
    assert "-r __node:=n" in args_line and "-r /in:=/psi0/in" in args_line
    params_file = args_line.split("--params-file ")[1].split()[0]
    assert "rate: 5.0" in Path(params_file).read_text()


@pytest.mark.parametrize("body, message", [
    ("description: x\nnodes:\n  a:\n    package: fakepkg\n    executable: steady\n    requierd: true\n",
     "unknown key 'requierd' (did you mean 'required'?)"),
    ("description: x\nnodse: {}\n", "unknown key 'nodse' (did you mean 'nodes'?)"),
    ("description: x\nnodes:\n  a:\n    package: fakepkg\n    executable: nosuchexe\n",
     "package 'fakepkg' has no executable 'nosuchexe'"),
    ("description: x\nnodes:\n  a:\n    package: nosuchpkg\n    executable: steady\n",
     "package 'nosuchpkg' is not installed"),
    ("description: [unclosed\n", "not valid YAML"),
    ("description: x\nnodes: {}\n", "'nodes' must be a non-empty mapping"),
    ("description: x\nnodes:\n  m:\n    package: psi0_bringup\n    executable: graph_monitor\n"
     "    parameters: {report_perod: 1.0}\n", "unknown parameter 'report_perod' (did you mean 'report_period'?)"),
    ("description: x\nnodes:\n  m:\n    package: psi0_bringup\n    executable: graph_monitor\n"
     "    parameters: {report_period: -1.0}\n", "report_period: -1.0 is below the minimum 0.2"),
])
def test_bad_profiles_fail_before_starting_anything(prefix, tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    r = launch(prefix, [str(path), "--duration", "1"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert "started" not in r.stdout


def test_unknown_profile_name_suggests(prefix):
    r = launch(prefix, ["simm"])
    assert r.returncode == 2 and "unknown profile 'simm' (did you mean 'sim'?)" in r.stderr


def test_bad_override_is_rejected(prefix):
    r = launch(prefix, ["sim", "--set", "graph_monitor.report_period=abc"])
    assert r.returncode == 2 and "expected float" in r.stderr
    r = launch(prefix, ["sim", "--set", "nosuchnode.x=1"])
    assert r.returncode == 2 and "no node 'nosuchnode'" in r.stderr


def test_shipped_profiles_validate():
    from psi0_bringup.profile import available_profiles, load_profile
    profiles = available_profiles()
    assert {"sim", "real"} <= set(profiles)
    for name in profiles:
        assert load_profile(name).nodes


def test_real_profile_is_the_whole_robot_graph_with_the_policy_waiting():
    # camera, bridge (AMO, the robot's own timeouts) and policy on Cyclone DDS; the policy is not
    # autostarted (activated by hand after the ramp), both control threads real-time, bridge above policy
    from psi0_bringup.profile import load_profile
    prof = load_profile("real")
    nodes = {n.name: n for n in prof.nodes}
    assert set(nodes) == {"camera", "amo_bridge", "policy", "graph_monitor"}
    assert prof.env["RMW_IMPLEMENTATION"] == "rmw_cyclonedds_cpp"
    assert nodes["camera"].parameters["source"] == "realsense"
    bridge, policy = nodes["amo_bridge"].parameters, nodes["policy"].parameters
    assert bridge["backend"] == "amo" and bridge["source"] == "policy" and "lowstate_timeout" not in bridge
    assert policy["autostart"] is False and policy["mode"] == "rtc"
    assert bridge["realtime_priority"] > policy["control_rt_priority"] > 0
