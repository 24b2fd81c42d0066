"""The training loop shared by the three stages (stage specifics live in stage1.py / stage_flow.py).

    result = train(get_config("debug_stage3", {"dataset": "data/pick"}))
    result = train(cfg, train_set=ds, val_set=val, stats=ds.stats())     # in-memory data (tests, benches)

Loss of a step = (sum of loss terms over the global batch) / (number of terms in the global batch): each
micro-batch contributes its sum, divided by the all-reduced global count, so 1 process, N processes and
gradient accumulation compute the same gradient of the same number.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from psi0_training.train import dist as D
from psi0_training.train.batches import DataMismatchError, StepSampler, check_item
from psi0_training.train.configs import TrainConfig
from psi0_training.train.logs import RunLogger
from psi0_training.train.state import latest_checkpoint, load_training_state, save_training_checkpoint
from psi0_training.train.tasks import make_task


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm became NaN/inf; the run stops and the last good checkpoint is kept."""


@dataclass
class TrainResult:
    step: int
    status: str                       # "done" | "interrupted"
    checkpoint: Path | None
    losses: list[float] = field(default_factory=list)   # training loss of every step run in this call
    eval: dict = field(default_factory=dict)             # last validation metrics
    data_wait_fraction: float = 0.0
    samples_per_s: float = 0.0


def lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def make_optimizer(cfg: TrainConfig, model):
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)  # no decay on biases, norms, embeddings' gains
    if not decay and not no_decay:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def open_datasets(cfg: TrainConfig):
    """Train / validation split of a converted dataset: the last `val_episodes` episodes are held out."""
    from psi0_training.data.dataset import Psi0Dataset, load_info, load_stats
    if not cfg.dataset:
        raise DataMismatchError(f"{cfg.name}: no dataset given (--dataset DIR, a `psi0 convert` output)")
    root = Path(cfg.dataset)
    info = load_info(root)
    n_eps = int(info["total_episodes"])
    n_val = min(cfg.val_episodes, max(0, n_eps - 1))
    train_set = Psi0Dataset(root, action_horizon=cfg.horizon, episodes=list(range(n_eps - n_val)))
    val_set = Psi0Dataset(root, action_horizon=cfg.horizon, episodes=list(range(n_eps - n_val, n_eps))) \
        if n_val else None
    return train_set, val_set, load_stats(root)


def _val_batches(task, val_set, cfg: TrainConfig, micro: int):
    if val_set is None or len(val_set) == 0:
        return []
    n = min(len(val_set), cfg.eval_batches * micro)
    idx = np.linspace(0, len(val_set) - 1, n).round().astype(int)
    collate = task.collate()
    return [collate([val_set[int(i)] for i in idx[k:k + micro]]) for k in range(0, n, micro)]


class _StopFlag:
    """SIGINT/SIGTERM -> finish the current step, save, return (main thread only)."""

    def __init__(self):
        self.set = False
        self.old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self.old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


@dataclass
class _Run:
    """Everything a run holds between steps."""
    cfg: TrainConfig
    device: torch.device
    info: D.DistInfo
    task: object
    model: torch.nn.Module          # the unwrapped model
    trained: torch.nn.Module        # the model as trained (DDP / FSDP wrapped under torchrun)
    optimizer: torch.optim.Optimizer
    scheduler: object
    sampler: StepSampler
    step: int
    ckpt: Path | None


def _setup(cfg: TrainConfig, train_set, val_set, stats) -> _Run:
    """Data checks, task, model, optimizer; the newest checkpoint restored when resuming."""
    device = _device(cfg)
    info = D.init_distributed(device.type)
    state_dim = cfg.state_dim if cfg.stage != 1 else None
    check_item(train_set[0], cfg.horizon, cfg.action_dim, state_dim, "train set")
    if val_set is not None and len(val_set):
        check_item(val_set[0], cfg.horizon, cfg.action_dim, state_dim, "val set")
    ckpt = latest_checkpoint(Path(cfg.run_dir)) if cfg.resume else None
    task = make_task(cfg, stats, train_set, val_set, ckpt, info)
    torch.manual_seed(cfg.seed)  # identical initial weights on every process
    model = task.build_model().to(device)
    if ckpt is not None:
        task.load_weights(model, ckpt)
    trained = D.wrap(model, cfg.parallel, info, device)
    optimizer, scheduler = make_optimizer(cfg, trained)
    step = 0
    if ckpt is not None:
        trainer_state = load_training_state(ckpt, optimizer, scheduler, model=trained)
        step = int(trainer_state["step"])
        old = trainer_state.get("data", {})
        saved = (old.get("dataset_len"), old.get("batch_size"), old.get("seed"))
        if old and saved != (len(train_set), cfg.batch_size, cfg.seed):
            raise DataMismatchError(f"{ckpt}: saved with (samples, batch, seed) {saved}, now "
                                    f"{(len(train_set), cfg.batch_size, cfg.seed)}: the data order would not "
                                    "continue; use a new output_dir")
    sampler = StepSampler(len(train_set), cfg.batch_size, cfg.seed, info.rank, info.world, cfg.grad_accum, step)
    return _Run(cfg, device, info, task, model, trained, optimizer, scheduler, sampler, step, ckpt)


def _step(run: _Run, micro: list[dict], amp, params) -> tuple[float, float]:
    """One optimizer step on this process's micro-batches; returns (global loss, gradient norm)."""
    cfg, task, trained, info = run.cfg, run.task, run.trained, run.info
    rnd = task.randomness(run.step, cfg.batch_size)
    pos = [run.sampler.positions(a) for a in range(cfg.grad_accum)]
    local = sum(torch.as_tensor(task.weight_count(mb, rnd, p)).double() for mb, p in zip(micro, pos))
    total = D.all_reduce_sum(local.reshape(1), info).clamp(min=1.0)
    acc = torch.zeros(1, dtype=torch.float64)
    trained.train()
    for a, (mb, p) in enumerate(zip(micro, pos)):
        with D.no_sync(trained, a < cfg.grad_accum - 1), amp:
            part = task.loss_sum(trained, mb, rnd, p, run.device)
        (part / total.to(run.device).float() * info.world).backward()
        acc += part.detach().double().cpu()
    loss = float(D.all_reduce_sum(acc, info) / total)
    gnorm = _clip(trained, params, cfg.grad_clip)
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        last = latest_checkpoint(Path(cfg.run_dir))
        raise TrainingDiverged(f"{cfg.name}: loss {loss} / gradient norm {gnorm} at step {run.step + 1}; stopped "
                               f"without updating the weights. Last good checkpoint: {last or 'none'} (lower lr, "
                               "check the data, resume from it)")
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return loss, gnorm


def train(cfg: TrainConfig, train_set=None, val_set=None, stats: dict | None = None, say=print,
          stop_after: int | None = None) -> TrainResult:
    """Run (or resume) `cfg`. stop_after: return after this global step (as an interruption would)."""
    cfg.check_runnable()
    if train_set is None:
        train_set, val_set, stats = open_datasets(cfg)
    run = _setup(cfg, train_set, val_set, stats)
    loader = DataLoader(train_set, batch_sampler=run.sampler, collate_fn=run.task.collate(),
                        num_workers=cfg.num_workers, prefetch_factor=cfg.prefetch_factor if cfg.num_workers else None,
                        persistent_workers=cfg.num_workers > 0)
    val_batches = _val_batches(run.task, val_set, cfg, min(cfg.batch_size, 16))  # same whatever the world size
    log = RunLogger(Path(cfg.run_dir), cfg, run.info.main, cfg.steps, run.step, say)
    if run.ckpt is not None:
        log.say(f"resuming {cfg.name} from {run.ckpt} at step {run.step}")
    m = run.model
    log.say(f"{cfg.name}: stage {cfg.stage}, {sum(p.numel() for p in m.parameters() if p.requires_grad):,} trainable"
            f" / {sum(p.numel() for p in m.parameters()):,} parameters, {len(train_set)} samples, "
            f"{run.info.world} process(es), device {run.device}")
    if getattr(run.task, "fast_report", None):
        log.say(f"FAST tokenizer: {run.task.fast_report}")
    result = TrainResult(run.step, "done", run.ckpt)
    amp = torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    params = [p for p in run.trained.parameters() if p.requires_grad]
    wait = busy = 0.0
    it = iter(loader)
    try:
        with _StopFlag() as stop:
            while run.step < cfg.steps:
                t0 = time.perf_counter()
                micro = [next(it) for _ in range(cfg.grad_accum)]
                t1 = time.perf_counter()
                loss, gnorm = _step(run, micro, amp, params)
                busy += time.perf_counter() - t0
                wait += t1 - t0
                result.losses.append(loss)
                log.progress(1, loss)
                step = run.step
                if step % cfg.log_every == 0 or step == cfg.steps:
                    log.scalars(step, {"train/loss": loss, "train/grad_norm": gnorm,
                                       "train/lr": run.scheduler.get_last_lr()[0],
                                       "perf/data_wait_fraction": wait / max(busy, 1e-9),
                                       "perf/samples_per_s": len(result.losses) * cfg.batch_size / max(busy, 1e-9),
                                       **_batch_stats(micro)})
                if val_batches and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps):
                    result.eval = _evaluate(run.task, run.trained, val_batches, run.device, amp)
                    log.scalars(step, result.eval)
                    log.say(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in result.eval.items()))
                # every process must agree (a signal reaches them at different steps), or checkpoints desync
                stopped = float(D.all_reduce_sum(torch.tensor([float(stop.set)]), run.info)) > 0
                interrupted = stopped or (stop_after is not None and step >= stop_after)
                if step % cfg.save_every == 0 or step == cfg.steps or interrupted:
                    result.checkpoint = _save(run, result)
                if interrupted:
                    result.status = "interrupted"
                    log.say(f"stopped at step {step}; resume with the same command (checkpoint {result.checkpoint})")
                    break
    finally:
        log.close()
        del it
    result.step = run.step
    result.data_wait_fraction = wait / max(busy, 1e-9)
    result.samples_per_s = len(result.losses) * cfg.batch_size / max(busy, 1e-9)
    return result


def _batch_stats(micro: list[dict]) -> dict:
    """Per-batch counters a collate function reports (stage 1: FAST sequences cut at fast_max_tokens)."""
    if "truncated" not in micro[0]:
        return {}
    n = sum(int(mb["truncated"]) for mb in micro)
    return {"train/fast_truncated_fraction": n / sum(len(mb["input_ids"]) for mb in micro)}


def _clip(model, params, max_norm: float) -> float:
    limit = max_norm if max_norm > 0 else float("inf")
    norm = torch.nn.utils.clip_grad_norm_(params, limit)
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP: a DTensor over all shards


def _evaluate(task, trained, batches, device, amp) -> dict:
    model = D.unwrap(trained)   # DDP: the replica; FSDP2: itself (its submodules gather their weights)
    was = model.training
    model.eval()
    try:
        with D.gathered(trained), amp:
            return task.evaluate(model, batches, device)
    finally:
        model.train(was)


def _save(run: _Run, result: TrainResult) -> Path | None:
    cfg, task, trained, info, optimizer, step = run.cfg, run.task, run.trained, run.info, run.optimizer, run.step
    sharded = D.is_sharded(trained)
    model = D.unwrap(trained)
    if sharded:  # gather the full weights and optimizer state (every process takes part), rank 0 writes
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
        full = D.full_state_dict(trained)
        opt_state = get_optimizer_state_dict(trained, optimizer,
                                             options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if info.main:
            model = task.empty_model()
            model.load_state_dict(full)
        optimizer = _Frozen(opt_state)
    path = None
    if info.main:
        extra = {"train": {"config": cfg.name, "stage": cfg.stage, "step": step}}
        state = {"data": run.sampler.state(step), "world_size": info.world, "config": cfg.name,
                 "last_loss": result.losses[-1] if result.losses else None, "fsdp_full_optimizer": sharded}
        path = save_training_checkpoint(Path(cfg.run_dir), step, lambda d: task.save_model(d, model, extra),
                                        cfg.to_json(), optimizer, run.scheduler, state, cfg.keep_last)
    D.barrier(info)
    return path


class _Frozen:
    """An optimizer state gathered for saving (FSDP full state dict)."""

    def __init__(self, state):
        self._state = state

    def state_dict(self):
        return self._state
