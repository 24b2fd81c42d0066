"""Run a profile's nodes as child processes, the way `ros2 launch` would.

Used where launch_ros is not installed (pip-only machines, CI). Each node is
the same installed executable `ros2 run` would start, with the same
`--ros-args` (node name, parameter file, remappings). Rules:
- every child gets its own session, so a terminal Ctrl-C reaches only the
  runner, which then stops children in order: SIGINT, then SIGTERM, then
  SIGKILL, each after `stop_timeout` seconds;
- a required node that exits stops the graph: exit status 0 if it exited 0
  (a job node that finished), 1 otherwise;
- a non-required node that exits is reported, and restarted if `respawn`
  (at most `max_respawns` times);
- a child that had to be killed makes the run fail: nodes must stop cleanly.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import yaml

from psi0_bringup.profile import NodeSpec, Profile, ros_params_file_content
from psi0_common.config import ConfigError

CLEAN_EXIT_CODES = {0, -signal.SIGINT, -signal.SIGTERM}


def find_executable(package: str, executable: str) -> Path:
    """<prefix>/lib/<package>/<executable> on AMENT_PREFIX_PATH, as `ros2 run` finds it."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        candidate = Path(prefix) / "lib" / package / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    known = [p for p in prefixes if (Path(p) / "share" / "ament_index" / "resource_index" / "packages" / package).exists()]
    if not known:
        raise ConfigError(f"package {package!r} is not installed (not on AMENT_PREFIX_PATH); "
                          "run `make setup` or source tools/env.sh")
    raise ConfigError(f"package {package!r} has no executable {executable!r} in {known[0]}/lib/{package}")


@dataclass
class Child:
    spec: NodeSpec
    command: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    killed: bool = False
    reported: bool = False


class GraphRunner:
    def __init__(self, profile: Profile, run_dir: Path, out: TextIO = sys.stdout, stop_timeout: float = 5.0,
                 max_respawns: int = 3, respawn_delay: float = 1.0):
        self.profile = profile
        self.run_dir = run_dir
        self.out = out
        self.stop_timeout = stop_timeout
        self.max_respawns = max_respawns
        self.respawn_delay = respawn_delay
        self._stop = threading.Event()
        self._stop_reason = ""
        self._exit_code = 0
        self._print_lock = threading.Lock()
        self.children = [Child(spec, self._command(spec)) for spec in profile.nodes]

    # -- set-up -------------------------------------------------------------------
    def _command(self, spec: NodeSpec) -> list[str]:
        exe = find_executable(spec.package, spec.executable)
        cmd = [str(exe), *spec.args, "--ros-args", "-r", f"__node:={spec.name}"]
        if spec.parameters:
            cmd += ["--params-file", str(self.run_dir / "params.yaml")]
        for src, dst in spec.remappings.items():
            cmd += ["-r", f"{src}:={dst}"]
        return cmd

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.profile.env)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
        return env

    def say(self, text: str) -> None:
        with self._print_lock:
            print(f"[psi0] {text}", file=self.out, flush=True)

    # -- lifecycle ------------------------------------------------------------------
    def request_stop(self, reason: str, exit_code: int = 0) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._exit_code = max(self._exit_code, exit_code)
            self._stop.set()

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        params = ros_params_file_content(self.profile)
        (self.run_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        self.say(f"profile {self.profile.name!r}: starting {len(self.children)} node(s); logs in {self.run_dir}")
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        log_file = open(self.run_dir / f"{child.spec.name}.log", "a")
        child.proc = subprocess.Popen(child.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=self._env(), start_new_session=True,
                                      text=True, bufsize=1)
        child.reported = False
        self.say(f"started {child.spec.name} (pid {child.proc.pid}): {child.spec.package}/{child.spec.executable}")
        threading.Thread(target=self._pump, args=(child.spec.name, child.proc, log_file), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen, log_file) -> None:
        with log_file:
            for line in proc.stdout:  # type: ignore[union-attr]
                log_file.write(line)
                with self._print_lock:
                    print(f"[{name}] {line}", end="", file=self.out, flush=True)

    def _check_children(self) -> None:
        for child in self.children:
            code = child.proc.poll() if child.proc else None
            if code is None or child.reported:
                continue
            child.reported = True
            name = child.spec.name
            if child.spec.required:
                if code == 0:
                    self.say(f"required node {name} finished (exit 0); stopping the graph")
                    self.request_stop(f"{name} finished", 0)
                else:
                    self.say(f"required node {name} died with exit code {code}; stopping the graph")
                    self.request_stop(f"{name} died ({code})", 1)
            elif child.spec.respawn and child.restarts < self.max_respawns and not self._stop.is_set():
                child.restarts += 1
                self.say(f"node {name} exited with code {code}; respawn {child.restarts}/{self.max_respawns} "
                         f"in {self.respawn_delay:.1f} s")
                time.sleep(self.respawn_delay)
                self._spawn(child)
            else:
                self.say(f"node {name} exited with code {code} (not required; the graph keeps running)")

    def run(self, duration: float | None = None) -> int:
        """Start, supervise until stopped, shut down; returns the process exit status."""
        self.start()
        deadline = None if duration is None else time.monotonic() + duration
        while not self._stop.wait(0.1):
            self._check_children()
            if deadline is not None and time.monotonic() >= deadline:
                self.request_stop(f"duration of {duration:g} s elapsed", 0)
        self.say(f"stopping: {self._stop_reason}")
        clean = self.shutdown()
        if not clean:
            self._exit_code = max(self._exit_code, 1)
        self.say(f"all nodes stopped; exit status {self._exit_code}")
        return self._exit_code

    def shutdown(self) -> bool:
        """Stop every child: SIGINT, SIGTERM, SIGKILL. True if all stopped cleanly."""
        running = [c for c in self.children if c.proc and c.proc.poll() is None]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            for c in running:
                try:
                    os.killpg(c.proc.pid, sig)
                except ProcessLookupError:
                    pass
                if sig == signal.SIGKILL:
                    c.killed = True
            end = time.monotonic() + self.stop_timeout
            while running and time.monotonic() < end:
                running = [c for c in running if c.proc.poll() is None]
                time.sleep(0.05)
            if not running:
                break
            if sig != signal.SIGKILL:
                self.say(f"{', '.join(c.spec.name for c in running)} still running {self.stop_timeout:g} s after "
                         f"{signal.Signals(sig).name}")
        clean = True
        for c in self.children:
            if c.proc is None:
                continue
            code = c.proc.wait()
            if c.killed:
                self.say(f"{c.spec.name} had to be killed: it does not shut down cleanly")
                clean = False
            elif code not in CLEAN_EXIT_CODES and not c.reported:
                self.say(f"{c.spec.name} exited with code {code} while stopping")
                clean = False
        return clean


def default_run_dir(profile: Profile) -> Path:
    root = Path(os.environ.get("PSI0_LOG_DIR") or Path(os.environ.get("PSI0_ROOT", ".")) / "log" / "runs")
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{profile.name}-{os.getpid()}"


def install_signal_handlers(runner: GraphRunner, on_signal: Callable[[str], None] | None = None) -> None:
    def handler(signum, _frame):
        runner.request_stop(f"received {signal.Signals(signum).name}", 0)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
