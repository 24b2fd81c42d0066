"""The trainer's batches give the model exactly what the policy's processor gives it at inference."""
import numpy as np
import torch

from psi0_training.train.batches import StepSampler, model_inputs
from psi0_training.train.stage_flow import FlowTask
from train_util import data_for, quick


def test_device_side_image_preprocessing_equals_the_policy_processor(tmp_path):
    cfg = quick("debug_stage3", tmp_path)
    tr, _, st = data_for(cfg)
    tr.episodes[0]["image"] = np.random.default_rng(0).integers(0, 256, tr.episodes[0]["image"].shape, np.uint8)
    task = FlowTask(cfg, st)
    items = [tr[i] for i in (0, 5, 17)]
    batch = task.collate()(items)
    ours = model_inputs(task.processor, batch, "cpu")
    ref = task.processor([it["observation.images.head"].numpy() for it in items], [it["task"] for it in items],
                         task.norm.state.normalize(np.stack([it["observation.state"].numpy() for it in items])))
    for name in ("pixel_values", "image_grid_thw", "input_ids", "attention_mask", "mm_token_type_ids", "state"):
        assert torch.equal(getattr(ours, name), getattr(ref, name)), name


def test_data_order_is_a_function_of_the_step_and_splits_across_processes():
    one = StepSampler(100, 8, seed=3)
    two = [StepSampler(100, 8, seed=3, rank=r, world=2) for r in (0, 1)]
    it1, its = iter(one), [iter(s) for s in two]
    for _ in range(30):  # several epochs
        assert sorted(next(it1)) == sorted(next(its[0]) + next(its[1]))
    late = iter(StepSampler(100, 8, seed=3, start_step=29))
    assert next(late) == one.global_batch(29).tolist()
    assert len(set(np.concatenate([one.global_batch(s) for s in range(12)]).tolist())) == 96  # no repeats in an epoch


def test_training_time_rtc_prefix_is_clean_and_out_of_the_loss(tmp_path):
    """d ~ U{0..max_delay-1} per sample: the first d tokens have t = 1 (clean) and, like padding past an
    episode's end, add no loss terms; the draw depends only on (seed, step)."""
    from psi0_training.train.stage_flow import step_randomness
    cfg = quick("debug_stage3", tmp_path)
    seen = set()
    for step in range(40):
        t, lm, noise, shifts = step_randomness(cfg, step, 8)
        assert shifts is None                   # debug_stage3 does not augment
        d = (~lm).sum(1)
        seen |= set(d.tolist())
        for b in range(8):
            assert torch.all(t[b, : d[b]] == 1.0) and torch.all(lm[b, d[b]:])
            assert len(set(t[b, d[b]:].tolist())) == 1 and 0.0 <= t[b, -1] < 1.0   # one shared noisy time
    assert seen == set(range(cfg.max_delay))
    again = step_randomness(cfg, 7, 8)
    assert all(torch.equal(x, y) for x, y in zip(again[:3], step_randomness(cfg, 7, 8)[:3]))
    tr, _, st = data_for(cfg, length=35)        # short episodes: chunks near the end are padded
    task = FlowTask(cfg, st)
    batch = task.collate()([tr[i] for i in (0, 20, 34, 3, 30, 10, 25, 33)])
    rnd = step_randomness(cfg, 0, 8)
    valid = batch["valid"]
    assert not valid.all()
    assert int(task.weight_count(batch, rnd, slice(0, 8))) == int((rnd[1] & valid).sum()) * 36


def test_random_shift_moves_whole_pixels_and_repeats_edges():
    from psi0_training.train.batches import shift_images
    img = torch.arange(2 * 20 * 30 * 3, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(2, 20, 30, 3)
    same = shift_images(img, torch.zeros(2, 2), 0.1)
    assert torch.equal(same, img)
    out = shift_images(img, torch.tensor([[1.0, -1.0], [-0.5, 0.5]]), 0.1)   # up to 2 rows, 3 columns
    assert out.shape == img.shape and out.dtype == torch.uint8
    # sample 0: dy = +2, dx = -3: output pixel (r, c) is input (r + 2, c - 3), clamped to the edges
    assert torch.equal(out[0, :18, 3:], img[0, 2:, :27])
    assert torch.equal(out[0, 18:, 3:], img[0, 19:20, :27].expand(2, -1, -1))
    assert torch.equal(out[0, :18, :3], img[0, 2:, :1].expand(-1, 3, -1))
    # sample 1: dy = -1, dx = +2 (0.5 of 2 rows and of 3 columns, rounded)
    assert torch.equal(out[1, 1:, :28], img[1, :19, 2:])
    assert torch.equal(shift_images(img, torch.ones(2, 2), 0.0), img)


def test_image_shift_is_drawn_per_step_and_never_in_validation(tmp_path):
    import dataclasses

    from psi0_training.train.stage_flow import step_randomness
    cfg = dataclasses.replace(quick("debug_stage3", tmp_path), image_shift=0.05)
    s7 = step_randomness(cfg, 7, 8)[3]
    assert s7.shape == (8, 2) and s7.abs().max() <= 1 and s7.std() > 0.2
    assert torch.equal(s7, step_randomness(cfg, 7, 8)[3]) and not torch.equal(s7, step_randomness(cfg, 8, 8)[3])
    assert step_randomness(cfg, 7, 8, salt=1, augment=False)[3] is None
    # the shifted batch changes the model input, the unshifted path is the processor's exactly
    tr, _, st = data_for(cfg, length=35)
    task = FlowTask(cfg, st)
    batch = task.collate()([tr[i] for i in range(4)])
    from psi0_training.train.batches import model_inputs
    plain = model_inputs(task.processor, batch, "cpu")
    shifted = model_inputs(task.processor, batch, "cpu", torch.ones(4, 2), cfg.image_shift)
    assert torch.equal(plain.pixel_values, model_inputs(task.processor, batch, "cpu", None, 0.05).pixel_values)
    assert not torch.equal(plain.pixel_values, shifted.pixel_values)
