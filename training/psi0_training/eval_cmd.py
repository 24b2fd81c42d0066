"""`psi0 eval-offline CHECKPOINT BAG`: policy vs recorded actions on one bag -> PNG + errors.json (ROS-free)."""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint directory (model.safetensors, config.json, norm_stats.json)")
    p.add_argument("bag", help="rosbag2 episode (mcap or sqlite3)")
    p.add_argument("--out", default="eval_offline", help="output directory for actions.png, errors.json")
    p.add_argument("--stride", type=int, default=15, help="frames executed per predicted chunk (open loop)")
    p.add_argument("--max-chunks", type=int, default=None, help="stop after this many inferences")
    p.add_argument("--image-topic", default=None, help="camera topic (default: the converter's)")


def run(args) -> int:
    from dataclasses import replace

    from psi0_training.data.bagio import BagError
    from psi0_training.data.config import ConvertConfig
    from psi0_training.eval_offline import evaluate

    if args.stride < 1:
        print("psi0 eval-offline: --stride must be >= 1", file=sys.stderr)
        return 2
    cfg = ConvertConfig() if not args.image_topic else replace(ConvertConfig(), image_topic=args.image_topic)
    try:
        res = evaluate(args.checkpoint, args.bag, args.out, args.stride, args.max_chunks, cfg)
    except (BagError, ValueError, OSError) as exc:
        print(f"psi0 eval-offline: {exc}", file=sys.stderr)
        return 2
    print(f"{res['frames_compared']} frames compared; overall MAE {res['overall']['mae']:.4f}, "
          f"RMSE {res['overall']['rmse']:.4f}")
    for g, e in res["groups"].items():
        print(f"  {g:14s} MAE {e['mae']:.4f}  RMSE {e['rmse']:.4f}")
    print(f"wrote {args.out}/actions.png, errors.json, predictions.npz")
    return 0
