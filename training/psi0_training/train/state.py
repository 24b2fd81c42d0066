"""Training checkpoints: checkpoints/<step>/{model files, train_config.json, training_state/}.

    checkpoints/000120/
        model.safetensors, config.json, norm_stats.json, tokenizer.json   (stage 2/3: what the policy loads)
        train_config.json                   the TrainConfig as JSON (never pickled)
        training_state/
            optimizer.pt                    optimizer state_dict (tensors only; loaded with weights_only=True)
            scheduler.json                  LR scheduler state_dict
            rng.json                        torch / numpy / python RNG states
            trainer.json                    step, data-order state, world size, last losses

A checkpoint is built in checkpoints/.tmp-<step>-<pid>/ and renamed into place, so a crash or a kill
leaves either the whole checkpoint or none; only directories with training_state/trainer.json count.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

STEP_DIGITS = 6


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"{step:0{STEP_DIGITS}d}"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [d for d in root.iterdir() if d.name.isdigit() and (d / "training_state" / "trainer.json").is_file()]
    return sorted(done, key=lambda d: int(d.name))


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def rng_state() -> dict:
    np_state = np.random.get_state()
    out = {"torch": torch.get_rng_state().tolist(), "python": _py_state_to_json(random.getstate()),
           "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    if torch.cuda.is_available():
        out["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return out


def set_rng_state(d: dict) -> None:
    torch.set_rng_state(torch.tensor(d["torch"], dtype=torch.uint8))
    random.setstate(_py_state_from_json(d["python"]))
    n = d["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], np.uint32), n[2], n[3], n[4]))
    if "cuda" in d and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in d["cuda"]])


def _py_state_to_json(s):
    return [s[0], list(s[1]), s[2]]


def _py_state_from_json(s):
    return (s[0], tuple(s[1]), s[2])


def save_training_checkpoint(run_dir: Path, step: int, write_model, train_config_json: str, optimizer,
                             scheduler, trainer_state: dict, keep_last: int) -> Path:
    """write_model(directory) writes the model files; the rest is written here. Returns the final path."""
    final = checkpoint_dir(run_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write_model(tmp / "model")           # may itself write via temp + rename
        work = tmp / "model"
        (work / "train_config.json").write_text(train_config_json)
        ts = work / "training_state"
        ts.mkdir()
        torch.save(optimizer.state_dict(), ts / "optimizer.pt")
        (ts / "scheduler.json").write_text(json.dumps(scheduler.state_dict()))
        (ts / "rng.json").write_text(json.dumps(rng_state()))
        (ts / "trainer.json").write_text(json.dumps({**trainer_state, "step": step}, indent=1))
        if final.exists():  # re-saving a step (e.g. after a resume) replaces it whole
            old = final.parent / f".old-{final.name}-{os.getpid()}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.chmod(work, 0o755)  # mkdtemp made it private
        os.replace(work, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in complete_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_training_state(ckpt: Path, optimizer, scheduler, model=None) -> dict:
    """Restore optimizer, scheduler and RNG states; returns trainer.json."""
    ts = Path(ckpt) / "training_state"
    opt_state = torch.load(ts / "optimizer.pt", map_location="cpu", weights_only=True)
    from psi0_training.train.dist import is_sharded
    if model is not None and is_sharded(model):  # saved as a full (unsharded) optimizer state: shard it again
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
        # strict=False: weights that never received a gradient (the last MM-DiT block's unused VL-stream
        # output) have no AdamW state, in the straight run either.
        set_optimizer_state_dict(model, optimizer, opt_state,
                                 options=StateDictOptions(full_state_dict=True, strict=False))
    else:
        optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(json.loads((ts / "scheduler.json").read_text()))
    set_rng_state(json.loads((ts / "rng.json").read_text()))
    return json.loads((ts / "trainer.json").read_text())
