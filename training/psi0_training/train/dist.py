"""Process groups and model wrapping: DDP for the action expert, FSDP for a trained backbone.

Under torchrun (RANK / WORLD_SIZE / LOCAL_RANK in the environment) the process group is initialized with
NCCL on CUDA and gloo on CPU. `parallel: ddp` replicates the model and averages gradients (the frozen
backbone has no gradients, so only the expert's are reduced); `parallel: fsdp` shards parameters,
gradients and optimizer states (FSDP2 `fully_shard`, one unit per decoder/vision/MM-DiT block),
for stage 1 or an unfrozen backbone whose AdamW states would not fit replicated.
"""
from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def init_distributed(device_kind: str) -> DistInfo:
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
        # Tear the group down before interpreter exit: a gloo group left to the C++ destructors was seen
        # aborting a worker ("terminate called without an active exception").
        atexit.register(_destroy_process_group)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device_kind == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def all_reduce_sum(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def _block_classes(model: nn.Module) -> set[type]:
    names = {"Qwen3VLTextDecoderLayer", "Qwen3VLVisionBlock", "MMDiTBlock"}
    return {type(m) for m in model.modules() if type(m).__name__ in names}


def wrap(model: nn.Module, parallel: str, info: DistInfo, device: torch.device) -> nn.Module:
    """The model as trained: itself in one process, DDP or FSDP under torchrun."""
    if not info.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    if parallel == "ddp":
        # find_unused_parameters: the last MM-DiT block's VL-stream output (proj, MLP) feeds nothing, so those
        # weights never get a gradient; DDP must not wait for them.
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    return shard(model)


def shard(model: nn.Module) -> nn.Module:
    """FSDP2 (`fully_shard`): one unit per transformer block, the rest (embeddings, heads, projectors) in the
    root unit. Training calls the root's forward; evaluation gathers everything first (`gathered`), so the
    model's other methods (Psi0Model.sample, generate) work unchanged. Runs on CUDA (NCCL) and CPU (gloo)."""
    from torch.distributed.fsdp import fully_shard

    blocks = _block_classes(model)
    for m in list(model.modules()):
        if type(m) in blocks:
            fully_shard(m)
    fully_shard(model)
    return model


@contextlib.contextmanager
def gathered(model: nn.Module):
    """Full weights on every process for the duration (FSDP2 evaluation); a no-op otherwise."""
    from torch.distributed.fsdp import FSDPModule
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for m in units:
        m.unshard()
    try:
        yield
    finally:
        for m in units:
            m.reshard()


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule
    return isinstance(model, FSDPModule)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def full_state_dict(model: nn.Module) -> dict:
    """Complete, unsharded weights on CPU (every process must call this under FSDP)."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}


def no_sync(model: nn.Module, skip: bool):
    """Skip the gradient all-reduce on accumulation micro-steps that are not the last."""
    if skip and hasattr(model, "no_sync"):
        return model.no_sync()
    if is_sharded(model):
        return _fsdp_no_sync(model, skip)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(model, skip: bool):
    model.set_requires_gradient_sync(not skip)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)
