"""The debug configs of the three stages train on data made here, the loss falls, checkpoints load."""
import json

import numpy as np
import pytest
import torch

from psi0_training.train.loop import train
from train_util import convert_dataset, data_for, quick, safetensors_of


def falls(losses, k=3):
    return np.mean(losses[-k:]) < np.mean(losses[:k])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert_dataset(tmp_path_factory.mktemp("conv"))


def test_stage1_fast_pretraining_loss_falls(tmp_path):
    cfg = quick("debug_stage1", tmp_path, steps=10)
    tr, va, st = data_for(cfg)
    r = train(cfg, tr, va, st, say=lambda *a: None)
    assert r.status == "done" and r.step == 10 and falls(r.losses), r.losses
    ck = r.checkpoint
    for f in ("model.safetensors", "config.json", "norm_stats.json", "fast_tokenizer.json", "psi0_stage1.json",
              "train_config.json", "training_state/optimizer.pt", "training_state/trainer.json"):
        assert (ck / f).is_file(), f
    meta = json.loads((ck / "psi0_stage1.json").read_text())
    assert meta["fast_report"]["l1_error"] < 0.1 and meta["fast_report"]["mean_tokens"] < cfg.fast_max_tokens
    assert {"val/loss", "val/open_loop_mse"} <= set(r.eval)
    # the stage-1 checkpoint is a Qwen3-VL directory stage 2 starts from (psi0_policy's backbone loader)
    cfg2 = quick("debug_stage2", tmp_path / "s2", steps=3, backbone_path=str(ck))
    tr2, va2, st2 = data_for(cfg2)
    r2 = train(cfg2, tr2, va2, st2, say=lambda *a: None)
    from psi0_policy.model import load_checkpoint
    model, _, _ = load_checkpoint(r2.checkpoint)
    emb = safetensors_of(ck)["model.language_model.embed_tokens.weight"]
    torch.testing.assert_close(model.backbone.model.language_model.embed_tokens.weight, emb, rtol=0, atol=0)


def test_stage2_post_training_frozen_vlm_rtc(tmp_path):
    cfg = quick("debug_stage2", tmp_path, steps=10)
    assert cfg.freeze_backbone and cfg.max_delay == 8
    tr, va, st = data_for(cfg)
    r = train(cfg, tr, va, st, say=lambda *a: None)
    assert falls(r.losses), r.losses
    from psi0_policy.model import Psi0Model, model_config
    import dataclasses
    torch.manual_seed(cfg.seed)
    mc = model_config("tiny")
    fresh = Psi0Model(dataclasses.replace(mc, image_height=64, image_width=64))
    saved = safetensors_of(r.checkpoint)
    for k, v in fresh.state_dict().items():  # the VLM is frozen: bit-identical to its initialization
        if k.startswith("backbone."):
            assert torch.equal(saved[k], v), k
    assert any(not torch.equal(saved[k], v) for k, v in fresh.state_dict().items() if k.startswith("expert."))
    assert (tmp_path / "tensorboard").is_dir() and any((tmp_path / "tensorboard").iterdir())


def test_stage3_finetunes_a_converted_dataset_and_the_policy_loads_it(tmp_path, converted):
    cfg = quick("debug_stage3", tmp_path, steps=10, dataset=str(converted))
    r = train(cfg, say=lambda *a: None)
    assert falls(r.losses), r.losses
    assert r.eval["val/open_loop_mse"] > 0
    from psi0_policy.model import ChunkPolicy, load_checkpoint
    from psi0_policy.model.policy import Observation
    from psi0_training.data.dataset import load_stats
    model, ns, proc = load_checkpoint(r.checkpoint)
    saved = safetensors_of(r.checkpoint)
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    stats = load_stats(converted)
    assert ns.action.kind == "minmax"
    np.testing.assert_array_equal(ns.action.a, stats["action"]["min"])
    np.testing.assert_array_equal(ns.state.b, stats["observation.state"]["max"])
    policy = ChunkPolicy.from_checkpoint(r.checkpoint, seed=0)
    obs = Observation(np.zeros((48, 64, 3), np.uint8), stats["observation.state"]["mean"], "pick up the red cube")
    chunk = policy.unnormalize(policy.infer(obs))
    assert chunk.shape == (30, 36) and np.isfinite(chunk).all()
    # fine-tuning again from that checkpoint (stage 3 from a stage-2/3 checkpoint) starts from its weights
    cfg2 = quick("debug_stage3", tmp_path / "again", steps=1, dataset=str(converted), init_checkpoint=str(r.checkpoint),
                 lr=0.0, warmup_steps=0)
    r2 = train(cfg2, say=lambda *a: None)
    again = safetensors_of(r2.checkpoint)
    assert all(torch.equal(again[k], saved[k]) for k in saved)


def test_finetuning_at_a_higher_image_resolution_keeps_the_weights(tmp_path, converted):
    """sim_stage3_hires: a checkpoint trained at 64x64 fine-tunes at 128x128 (4x the vision tokens) from the
    same weights; the vision tower interpolates its position embeddings, so nothing is re-initialized."""
    from psi0_policy.model import ChunkPolicy, load_checkpoint
    from psi0_policy.model.policy import Observation

    low = train(quick("debug_stage3", tmp_path / "low", steps=2, dataset=str(converted)), say=lambda *a: None)
    cfg = quick("debug_stage3", tmp_path / "high", steps=1, dataset=str(converted), init_checkpoint=str(low.checkpoint),
                image_height=128, image_width=128, lr=0.0, warmup_steps=0)
    high = train(cfg, say=lambda *a: None)
    before, after = safetensors_of(low.checkpoint), safetensors_of(high.checkpoint)
    assert before.keys() == after.keys() and all(torch.equal(after[k], before[k]) for k in before)
    _, _, proc_low = load_checkpoint(low.checkpoint)
    _, _, proc_high = load_checkpoint(high.checkpoint)
    assert (proc_low.cfg.image_height, proc_high.cfg.image_height) == (64, 128)
    assert proc_high.image_tokens == 4 * proc_low.image_tokens
    chunk = ChunkPolicy.from_checkpoint(high.checkpoint).infer(
        Observation(np.zeros((240, 320, 3), np.uint8), np.zeros(32), "pick up the red cube"))
    assert chunk.shape == (30, 36) and np.isfinite(chunk).all()
