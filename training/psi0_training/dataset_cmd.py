"""`psi0 dataset-validate DATASET`: check a dataset against its own metadata (ROS-free)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset directory (written by psi0 convert)")
    p.add_argument("--no-videos", action="store_true", help="skip probing the mp4 files")
    p.add_argument("--no-stats", action="store_true", help="skip recomputing meta/stats.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from psi0_training.data.validate import validate_dataset

    root = Path(args.dataset)
    problems = validate_dataset(root, check_videos=not args.no_videos, check_stats=not args.no_stats,
                                progress=not args.no_progress)
    if problems:
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(f"psi0 dataset-validate: {root}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    info = json.loads((root / "meta" / "info.json").read_text())
    print(f"{root}: valid ({info['total_episodes']} episodes, {info['total_frames']} frames, "
          f"{info['total_tasks']} task(s), {info['fps']} fps)")
    return 0
