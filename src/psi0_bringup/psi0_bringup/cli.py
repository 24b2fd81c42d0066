"""The `psi0` command: one entry point for running, recording, converting and training.

Subcommands register here with a module that provides `add_arguments(parser)`
and `run(args) -> int`; modules are imported only when their subcommand runs,
so `psi0 convert` works on a training machine without ROS.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("psi0_bringup.launch_cmd", "run a bringup profile (sim, real, teleop_record, replay)"),
    "profiles": ("psi0_bringup.profiles_cmd", "list the bringup profiles, or show one resolved"),
    "convert": ("psi0_training.convert_cmd", "convert rosbag2 episodes into a training dataset (LeRobot v3 layout)"),
    "dataset-validate": ("psi0_training.dataset_cmd", "check a dataset against its own metadata"),
    "replay": ("psi0_training.replay_cmd", "republish a rosbag2 recording with its original timing"),
    "eval-offline": ("psi0_training.eval_cmd", "run a checkpoint on a bag; plot predicted vs recorded actions"),
    "train": ("psi0_training.train_cmd", "train a Psi0 stage from a named config (psi0 train --list)"),
    "demo": ("psi0_bringup.demo_cmd", "the loop in sim: record demonstrations, convert, train, evaluate, report"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psi0", description="psi0: humanoid VLA stack for the Unitree G1")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
