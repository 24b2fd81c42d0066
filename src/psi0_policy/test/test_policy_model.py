"""Psi0 model: flow convention, Euler sampler, prefix writing, processor, checkpoint round trip and errors."""
import json

import numpy as np
import pytest
import torch

from psi0_policy.model import (CheckpointError, NormStats, Psi0Model, Psi0Processor, Stats, flow, load_checkpoint,
                               model_config, save_checkpoint)
from psi0_policy.model.policy import ChunkPolicy, Observation


def test_euler_sampler_exact_on_known_velocity():
    # v = 1 everywhere: from noise x0, K Euler steps of 1/K land exactly on x0 + 1.
    noise = torch.zeros(2, 5, 3)
    out = flow.euler_sample(lambda x, t: torch.ones_like(x), noise, num_steps=4)
    assert torch.equal(out, torch.ones(2, 5, 3))
    # v = target - x_t / ... : the rectified-flow velocity of a straight line to `goal` is goal - x0,
    # constant along the path; Euler is exact for it.
    goal = torch.randn(1, 5, 3)
    x0 = torch.randn(1, 5, 3)
    out = flow.euler_sample(lambda x, t: goal - x0, x0, num_steps=8)
    torch.testing.assert_close(out, goal, rtol=0, atol=1e-6)


def test_sampler_writes_prefix_with_clean_time_every_step():
    seen = []

    def vel(x, t):
        seen.append((x.clone(), t.clone()))
        return torch.full_like(x, 0.5)

    prefix = torch.arange(6.0).view(1, 2, 3)
    out = flow.euler_sample(vel, torch.zeros(1, 4, 3), 4, prefix=prefix, prefix_len=torch.tensor([2]))
    assert torch.equal(out[:, :2], prefix)                 # exact
    torch.testing.assert_close(out[:, 2:], torch.full((1, 2, 3), 0.5))
    for k, (x, t) in enumerate(seen):
        assert torch.equal(x[:, :2], prefix)              # written in before every step
        assert torch.equal(t[0], torch.tensor([1.0, 1.0, k / 4, k / 4]))  # clean prefix, shared noisy time


def test_training_times_follow_the_convention():
    g = torch.Generator().manual_seed(0)
    t, loss_mask = flow.sample_times(256, 30, 8, generator=g)
    d = (~loss_mask).sum(1)
    assert d.min() == 0 and d.max() == 7                  # d in {0..max_delay-1}
    assert torch.all(t[~loss_mask] == 1.0)                # prefix clean (t = 1)
    tau = t[:, -1]
    assert torch.all((tau >= 0) & (tau < 1))
    assert torch.all(t[loss_mask] == tau[:, None].expand(-1, 30)[loss_mask])  # one shared noisy time
    x1, eps = torch.randn(4, 30, 36), torch.randn(4, 30, 36)
    assert torch.equal(flow.interpolate(x1, eps, torch.ones(4, 30)), x1)
    assert torch.equal(flow.interpolate(x1, eps, torch.zeros(4, 30)), eps)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = model_config("tiny")
    return Psi0Model(cfg), Psi0Processor(cfg)


def _inputs(proc, b=2):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(b)]
    return proc(imgs, ["pick up the red cube", "wave"][:b] + ["x"] * (b - 2), rng.standard_normal((b, 32)))


def test_processor_layout(tiny):
    model, proc = tiny
    inp = _inputs(proc)
    assert tuple(inp.image_grid_thw[0].tolist()) == (1, 16, 20)       # 240x320 -> 256x320, 16 px patches
    assert inp.pixel_values.shape == (2 * 16 * 20, 3 * 2 * 16 * 16)
    assert int(inp.mm_token_type_ids[0].sum()) == 80                  # 2x2 merge
    assert inp.attention_mask[1].sum() < inp.attention_mask[0].sum()  # shorter task is padded
    with pytest.raises(ValueError, match="uint8"):
        proc([np.zeros((240, 320, 3), np.float32)], ["t"], np.zeros((1, 32)))
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        proc([np.zeros((240, 320, 3), np.uint8)], ["t"], np.zeros((1, 31)))


def test_forward_loss_respects_masks_and_trains(tiny):
    model, proc = tiny
    inp = _inputs(proc)
    x1 = torch.randn(2, 30, 36)
    t, lm = flow.sample_times(2, 30, 8, generator=torch.Generator().manual_seed(1))
    out = model(inp, x1, t, loss_mask=lm)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())      # frozen backbone
    assert model.expert.action_in.weight.grad is not None
    # the loss is the mean over loss-masked tokens only
    noise = torch.randn(2, 30, 36)
    lm0 = torch.ones(2, 30, dtype=torch.bool)
    lm0[:, :5] = False
    t1 = torch.full((2, 30), 0.3)
    t1[:, :5] = 1.0
    out = model(inp, x1, t1, noise=noise, loss_mask=lm0)
    manual = ((out.pred - out.target) ** 2)[:, 5:].mean()
    torch.testing.assert_close(out.loss, manual, rtol=1e-6, atol=0)
    torch.testing.assert_close(out.target, x1 - noise)
    with pytest.raises(ValueError, match="expects"):
        model(inp, torch.randn(2, 30, 35), t1)


def test_clean_prefix_conditions_the_other_tokens():
    torch.manual_seed(0)
    cfg = model_config("tiny")
    model, proc = Psi0Model(cfg), Psi0Processor(cfg)
    with torch.no_grad():  # leave the adaLN-Zero start (identity blocks) so tokens interact
        for m in model.expert.modules():
            if isinstance(m, torch.nn.Linear) and m.weight.abs().sum() == 0:
                m.weight.normal_(0, 0.05)
    ctx = model.encode(_inputs(proc))
    x = torch.randn(2, 30, 36)
    t = torch.full((2, 30), 0.5)
    t[:, :4] = 1.0
    v1 = model.velocity(ctx, x, t)
    x2 = x.clone()
    x2[:, :4] += 1.0
    v2 = model.velocity(ctx, x2, t)
    assert (v1[:, 4:] - v2[:, 4:]).abs().max() > 1e-4
    t2 = t.clone()
    t2[:, :4] = 0.5  # per-token time matters too
    assert (model.velocity(ctx, x, t2)[:, 4:] - v1[:, 4:]).abs().max() > 1e-4
    assert torch.all(v1[..., 36:] == 0) if v1.shape[-1] > 36 else v1.shape[-1] == 36


def test_model_sample_keeps_prefix_and_is_seeded(tiny):
    model, proc = tiny
    inp = _inputs(proc)
    prefix = torch.randn(2, 6, 36)
    noise = torch.randn(2, 30, 36)
    a = model.sample(inp, 8, prefix=prefix, prefix_len=torch.tensor([6, 3]), noise=noise)
    assert a.shape == (2, 30, 36)
    assert torch.equal(a[0, :6], prefix[0]) and torch.equal(a[1, :3], prefix[1, :3])
    assert not torch.equal(a[1, 3:6], prefix[1, 3:6])
    assert torch.equal(a, model.sample(inp, 8, prefix=prefix, prefix_len=torch.tensor([6, 3]), noise=noise))


def _stats():
    rng = np.random.default_rng(3)
    lo = rng.uniform(-2, 0, 36)
    return NormStats(Stats("minmax", lo, lo + rng.uniform(0.1, 2, 36)),
                     Stats("minmax", np.full(32, -1.0), np.full(32, 1.0)))


def test_checkpoint_round_trip_is_exact(tiny, tmp_path):
    model, proc = tiny
    ns = _stats()
    save_checkpoint(tmp_path / "ckpt", model, ns, proc)
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {"model.safetensors", "config.json", "norm_stats.json",
                                                               "tokenizer.json"}
    m2, ns2, proc2 = load_checkpoint(tmp_path / "ckpt")
    s1, s2 = model.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k], s2[k]), k
    np.testing.assert_array_equal(ns2.action.a, ns.action.a)
    np.testing.assert_array_equal(ns2.action.b, ns.action.b)
    inp, inp2 = _inputs(proc), _inputs(proc2)
    assert torch.equal(inp.input_ids, inp2.input_ids)
    noise = torch.randn(2, 30, 36)
    assert torch.equal(model.sample(inp, 4, noise=noise), m2.sample(inp2, 4, noise=noise))  # atol 0


def test_checkpoint_mismatches_are_named(tiny, tmp_path):
    model, proc = tiny
    d = save_checkpoint(tmp_path / "c", model, _stats(), proc)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["expert"]["width"] = 32
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"shape mismatches: .*expert\..*file \(.*\) vs model"):
        load_checkpoint(d)
    cfg["model"]["expert"]["width"] = 64
    cfg["action_dim"] = 35
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="action_dim is 35"):
        load_checkpoint(d)
    cfg["action_dim"] = 36
    (d / "config.json").write_text(json.dumps(cfg))
    ns = json.loads((d / "norm_stats.json").read_text())
    ns["state"]["min"] = ns["state"]["min"][:30]
    ns["state"]["max"] = ns["state"]["max"][:30]
    (d / "norm_stats.json").write_text(json.dumps(ns))
    with pytest.raises(CheckpointError, match="norm_stats state has 30 dims, the model 32"):
        load_checkpoint(d)
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "nothing")


def test_norm_stats_round_trip_and_constant_dims():
    data = np.random.default_rng(0).standard_normal((100, 36))
    data[:, 5] = 0.7
    for kind in ("minmax", "meanstd"):
        st = Stats.fit(data, kind)
        y = st.normalize(data)
        assert np.isfinite(y).all() and np.allclose(st.unnormalize(y), data)
    assert np.allclose(Stats.fit(data, "minmax").normalize(data)[:, 0].max(), 1.0)
    with pytest.raises(ValueError, match="max < min"):
        Stats("minmax", np.ones(3), np.zeros(3))


def test_chunk_policy_prefix_is_copied_exactly():
    pol = ChunkPolicy.random("tiny", seed=1)
    obs = Observation(np.zeros((240, 320, 3), np.uint8), np.zeros(32), "pick")
    prefix = pol.normalize(np.random.default_rng(0).standard_normal((5, 36)))
    chunk = pol.infer(obs, prefix)
    assert chunk.shape == (30, 36) and np.array_equal(chunk[:5], prefix)
    with pytest.raises(ValueError, match="state must be 32"):
        pol.infer(Observation(obs.image, np.zeros(3), "x"))


def test_full_size_needs_local_backbone_path():
    from psi0_common.config import ConfigError
    with pytest.raises(ConfigError, match="local Qwen3-VL"):
        model_config("full")
    with pytest.raises(ConfigError, match="did you mean 'tiny'"):
        model_config("tiyn")
