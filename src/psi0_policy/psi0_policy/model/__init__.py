"""Psi0 VLA model (ROS-free, shared with training/).

    from psi0_policy.model import (Psi0Model, Psi0ModelConfig, model_config, Psi0Processor, ModelInputs,
                                   NormStats, Stats, flow, save_checkpoint, load_checkpoint, ChunkPolicy)
"""
from psi0_policy.model import flow
from psi0_policy.model.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from psi0_policy.model.config import BackboneConfig, ExpertConfig, Psi0ModelConfig, model_config
from psi0_policy.model.normalize import NormStats, Stats
from psi0_policy.model.policy import ChunkPolicy
from psi0_policy.model.processor import ModelInputs, Psi0Processor
from psi0_policy.model.psi0 import Context, FlowLoss, Psi0Model

__all__ = ["flow", "CheckpointError", "load_checkpoint", "read_config", "save_checkpoint", "BackboneConfig",
           "ExpertConfig", "Psi0ModelConfig", "model_config", "NormStats", "Stats", "ChunkPolicy", "ModelInputs",
           "Psi0Processor", "Context", "FlowLoss", "Psi0Model"]
