"""`psi0 replay BAG [--rate R] [--loop] [--topics ...]`: republish a bag with its original timing.

Argument parsing is ROS-free; rclpy is imported only when the command runs.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag", help="rosbag2 directory (mcap or sqlite3)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (2 = twice as fast)")
    p.add_argument("--loop", action="store_true", help="start over at the end, until Ctrl-C")
    p.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics (default: all)")
    p.add_argument("--restamp", action="store_true",
                   help="set header stamps to the current time (for nodes that reject stale stamps)")
    p.add_argument("--publish-task", action="store_true",
                   help="latch the bag's metadata task on /psi0/task before playing (for the policy node)")
    p.add_argument("--delay", type=float, default=1.0,
                   help="at most this many seconds to wait for a subscriber on every topic before playing")


def run(args) -> int:
    if args.rate <= 0:
        print("psi0 replay: --rate must be > 0", file=sys.stderr)
        return 2
    try:
        from psi0_training.ros.replay import main
    except ImportError as exc:
        print(f"psi0 replay needs rclpy and the built interfaces (source tools/env.sh): {exc}", file=sys.stderr)
        return 2
    from rosbags.rosbag2 import ReaderError

    from psi0_training.data.bagio import BagError

    try:
        return main(args.bag, args.topics, args.rate, args.loop, args.restamp, args.delay, args.publish_task)
    except (ValueError, OSError, ReaderError, BagError) as exc:
        print(f"psi0 replay: {exc}", file=sys.stderr)
        return 2
