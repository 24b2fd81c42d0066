"""`psi0 launch PROFILE`: start a profile's nodes and supervise them until stopped."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from psi0_bringup.profile import load_profile
from psi0_bringup.runner import GraphRunner, default_run_dir, install_signal_handlers
from psi0_common.config import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", help="profile name (see `psi0 profiles`) or path to a profile YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override one node parameter (repeatable), e.g. --set sim.camera_width=320")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop the graph cleanly after S seconds (default: run until Ctrl-C)")
    p.add_argument("--run-dir", type=Path, default=None, help="where node logs and the parameter file go")
    p.add_argument("--stop-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait after each stop signal before escalating (default 5)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the commands, start nothing")


def run(args) -> int:
    try:
        profile = load_profile(args.profile, args.overrides)
        if args.duration is not None and args.duration <= 0:
            raise ConfigError(f"--duration must be positive, got {args.duration}")
        runner = GraphRunner(profile, args.run_dir or default_run_dir(profile), stop_timeout=args.stop_timeout)
    except ConfigError as exc:
        print(f"psi0 launch: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for child in runner.children:
            print(" ".join(child.command))
        return 0
    install_signal_handlers(runner)
    return runner.run(args.duration)
