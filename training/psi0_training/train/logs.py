"""Run logging: TensorBoard event files, W&B (only when installed and enabled), metrics.jsonl, tqdm.

metrics.jsonl (one JSON object per logged step) is the plain-text copy tests and scripts read.
"""
from __future__ import annotations

import json
import math
from pathlib import Path


class RunLogger:
    def __init__(self, run_dir: Path, cfg, enabled: bool, total_steps: int, start_step: int, say=print):
        self.enabled = enabled
        self.say = say if enabled else (lambda *a, **k: None)
        self.tb = self.wandb = self.bar = None
        self.file = None
        if not enabled:
            return
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.file = (run_dir / "metrics.jsonl").open("a")
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step or None)
        if cfg.wandb:
            try:
                import wandb
            except ImportError:
                self.say("wandb is enabled but not installed; logging to TensorBoard only")
            else:
                self.wandb = wandb.init(project=cfg.wandb_project, name=cfg.name, dir=str(run_dir),
                                        config=json.loads(cfg.to_json()), resume="allow")
        if cfg.progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total_steps, initial=start_step, desc=f"train {cfg.name}", unit="step",
                            dynamic_ncols=True)

    def scalars(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in values.items()}
        self.file.write(json.dumps({"step": step, **{k: (v if math.isfinite(v) else str(v))
                                                     for k, v in clean.items()}}) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in clean.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(clean, step=step)

    def progress(self, n: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(loss=f"{loss:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
        if self.file is not None:
            self.file.close()


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
