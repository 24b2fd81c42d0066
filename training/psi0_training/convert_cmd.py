"""`psi0 convert BAG... --out DATASET`: rosbag2 episodes -> LeRobot-v3-style dataset (ROS-free)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from psi0_common.config import ConfigError
from psi0_training.data.config import ConvertConfig, QualityThresholds


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bags", nargs="+", metavar="BAG", help="rosbag2 directories (mcap or sqlite3), or directories of them")
    p.add_argument("--out", required=True, help="dataset directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset (atomically)")
    p.add_argument("--jobs", type=int, default=2, help="episodes converted in parallel (processes; 1 = in this process)")
    p.add_argument("--keep-work", action="store_true", help="keep <out>.work (converted episodes) after success")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="converter or quality setting, e.g. --set image_topic=/cam --set max_gap_s=1.0 "
                        "(fields: docs/data.md)")


def build_configs(settings: list[str]) -> tuple[ConvertConfig, QualityThresholds]:
    import yaml

    from psi0_common.config import did_you_mean, from_mapping

    conv, qual = {}, {}
    conv_names = {f.name for f in fields(ConvertConfig)}
    qual_names = {f.name for f in fields(QualityThresholds)}
    for s in settings:
        if "=" not in s:
            raise ConfigError(f"--set {s!r}: expected FIELD=VALUE")
        k, v = s.split("=", 1)
        value = yaml.safe_load(v) if v else ""
        if k in conv_names:
            conv[k] = value
        elif k in qual_names:
            qual[k] = value
        else:
            raise ConfigError(f"--set {k}: unknown setting{did_you_mean(k, conv_names | qual_names)}")
    return from_mapping(ConvertConfig, conv, "--set "), from_mapping(QualityThresholds, qual, "--set ")


def run(args) -> int:
    from psi0_training.data.convert import convert

    try:
        cfg, th = build_configs(args.set)
        if args.jobs < 1:
            raise ConfigError("--jobs must be >= 1")
        convert(args.bags, args.out, cfg, th, overwrite=args.overwrite, jobs=args.jobs,
                progress=not args.no_progress, keep_work=args.keep_work)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        print(f"psi0 convert: {exc}", file=sys.stderr)
        return 2
    return 0
