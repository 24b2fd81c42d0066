"""`psi0 train CONFIG [--key value ...]`: run a training config of the registry (ROS-free).

    psi0 train --list                                    # the configs
    psi0 train debug_stage3 --dataset data/pick --steps 100 --print-config
    torchrun --nproc_per_node 8 -m psi0_training.train_cmd full_stage3 --dataset data/pick \\
        --init_checkpoint runs/full_stage2/checkpoints/100000

Exit codes: 0 done, 2 bad config or data (nothing trained), 1 training diverged (NaN; the last good
checkpoint is kept), 130 interrupted after saving (run the same command to resume).
"""
from __future__ import annotations

import argparse
import sys

FLAGS = ("--print-config", "--list")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", action="store_true", help="list the training configs and exit")
    p.add_argument("config", nargs="?", help="training config name (psi0 train --list), e.g. debug_stage3")
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="--key value",
                   help="override any config field, e.g. --steps 100 --lr 3e-4 --dataset DIR (docs/training.md); "
                        "--print-config prints the resolved config and exits")
    p.epilog = "configs: see `psi0 train --list`"


def _list() -> str:
    from psi0_training.train.configs import REGISTRY
    rows = [f"{n:14s} stage {c.stage}  {c.model_size:5s} {c.steps:>7d} steps  batch {c.batch_size:<4d} lr {c.lr:g}"
            for n, c in REGISTRY.items()]
    return "\n".join(rows)


def run(args) -> int:
    from psi0_common.config import ConfigError
    from psi0_training.train.configs import get_config, parse_overrides

    tokens = list(args.overrides or [])
    if args.list or args.config is None or "--list" in tokens:
        print(_list())
        return 0 if args.list or "--list" in tokens else 2
    show = "--print-config" in tokens
    tokens = [t for t in tokens if t not in FLAGS]
    try:
        cfg = get_config(args.config, parse_overrides(tokens))
    except ConfigError as exc:
        print(f"psi0 train: {exc}", file=sys.stderr)
        return 2
    if show:
        print(cfg.to_json())
        return 0
    return _train(cfg)


def _train(cfg) -> int:
    from psi0_common.config import ConfigError
    from psi0_policy.model import CheckpointError
    from psi0_training.data.dataset import DatasetError
    from psi0_training.train.batches import DataMismatchError
    from psi0_training.train.loop import TrainingDiverged, train

    try:
        result = train(cfg)
    except (ConfigError, DataMismatchError, DatasetError, CheckpointError, FileNotFoundError) as exc:
        print(f"psi0 train: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"psi0 train: {exc}", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        return 130
    print(f"psi0 train: {cfg.name} finished at step {result.step}; checkpoint {result.checkpoint}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="psi0 train")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
