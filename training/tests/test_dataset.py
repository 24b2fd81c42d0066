"""Loader (chunks, padding, images), validation, resume, atomic output, CLI."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from data_test_config import CFG
from psi0_training.data import episode as episode_mod
from psi0_training.data import assemble as assemble_mod
from psi0_training.data import layout
from psi0_training.data.config import QualityThresholds
from psi0_training.data.convert import convert, work_dir_for
from psi0_training.data.dataset import DatasetError, Psi0Dataset, load_stats
from psi0_training.data.validate import validate_dataset


def test_item_keys_shapes_and_values(dataset):
    root, _ = dataset
    ds = Psi0Dataset(root, action_horizon=8)
    item = ds[3]
    assert item["observation.state"].shape == (32,) and item["observation.state"].dtype == torch.float32
    assert item["action"].shape == (8, 36) and item["action_is_pad"].shape == (8,)
    assert item[CFG.image_key].shape == (48, 64, 3) and item[CFG.image_key].dtype == torch.uint8
    assert isinstance(item["task"], str) and item["task"]
    assert torch.equal(item["action"], torch.from_numpy(ds.action[3:11]))
    assert not item["action_is_pad"].any()


def test_chunks_pad_at_episode_end(dataset):
    root, _ = dataset
    ds = Psi0Dataset(root, action_horizon=10)
    eps = pd.read_parquet(root / layout.EPISODES_PATH)
    end = int(eps.iloc[0]["dataset_to_index"])          # first frame of episode 1
    last = end - 1
    for i in (last, last - 3):
        item = ds[i]
        valid = end - i
        assert item["action_is_pad"].tolist() == [False] * valid + [True] * (10 - valid)
        assert torch.equal(item["action"][:valid], torch.from_numpy(ds.action[i:end]))
        # Padding repeats the episode's last action and never leaks the next episode's.
        assert torch.equal(item["action"][valid:], torch.from_numpy(ds.action[last]).expand(10 - valid, 36))
    nxt = ds[end]
    assert int(nxt["episode_index"]) == 1 and int(nxt["frame_index"]) == 0


def test_float_chw_and_video_fallback_agree_with_raw(dataset):
    root, _ = dataset
    raw = Psi0Dataset(root, action_horizon=1)
    vid = Psi0Dataset(root, action_horizon=1, image_format="float_chw", image_source="video")
    for i in (0, 17, 5, len(raw) - 1):
        a = raw[i][CFG.image_key].numpy().astype(np.float64)
        b = vid[i][CFG.image_key]
        assert b.shape == (3, 48, 64) and b.dtype == torch.float32 and 0 <= b.min() and b.max() <= 1
        assert np.abs(a - b.permute(1, 2, 0).numpy() * 255).mean() < 4.0   # H.264 at crf 20


def test_episode_subset_and_dataloader(dataset):
    root, summary = dataset
    ds = Psi0Dataset(root, action_horizon=4, episodes=[1, 2])
    assert set(ds.episode_index.tolist()) == {1, 2}
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5, shuffle=True, num_workers=1)))
    assert batch["action"].shape == (5, 4, 36) and len(batch["task"]) == 5
    with pytest.raises(DatasetError):
        Psi0Dataset(root, episodes=[summary["episodes"] + 5])


def test_stats_loader(dataset):
    root, _ = dataset
    st = load_stats(root)
    assert st["action"]["q01"].shape == (36,) and st[CFG.image_key]["mean"].shape == (3, 1, 1)


def test_validate_accepts_and_catches_damage(dataset, dataset_copy):
    root, _ = dataset
    assert validate_dataset(root, progress=False) == []
    d = dataset_copy
    info = json.loads((d / "meta" / "info.json").read_text())
    info["total_frames"] += 1
    (d / "meta" / "info.json").write_text(json.dumps(info))
    shard = layout.path_of(d, layout.IMAGE_PATH, 1, 1000, CFG.image_key)
    arr = np.load(shard)
    os.unlink(shard)                      # hard link: never write through it
    np.save(shard, arr[:-1])
    stats = json.loads((d / "meta" / "stats.json").read_text())
    stats["action"]["q99"][0] += 1e-3
    (d / "meta" / "stats.json").write_text(json.dumps(stats))
    problems = validate_dataset(d, progress=False)
    assert any("sum to" in p for p in problems)
    assert any("episode 1: image shard" in p for p in problems)
    info["total_frames"] -= 1
    (d / "meta" / "info.json").write_text(json.dumps(info))
    np.save(shard, arr)
    assert validate_dataset(d, progress=False) == ["stats.json: action.q99 does not match the data"]


def test_rerun_resumes_from_work_dir(bag_dir, tmp_path, monkeypatch):
    bags = [bag_dir / "mcap_ok", bag_dir / "sqlite_ok"]
    out = tmp_path / "ds"
    # First run dies during assembly, after both episodes were converted.
    def boom(*a, **k):
        raise RuntimeError("killed")
    monkeypatch.setattr(assemble_mod, "feature_stats", boom)
    with pytest.raises(RuntimeError):
        convert(bags, out, CFG, progress=False, log=lambda *_: None)
    assert not out.exists() and not list(tmp_path.glob(".ds.tmp-*"))      # nothing half-written
    assert len([p for p in work_dir_for(out).iterdir() if not p.name.startswith(".")]) == 2
    monkeypatch.undo()
    # Second run must not touch the bags again.
    def no_extract(*a, **k):
        raise AssertionError("episode converted twice")
    monkeypatch.setattr(episode_mod, "extract", no_extract)
    summary = convert(bags, out, CFG, progress=False, log=lambda *_: None)
    assert summary["episodes"] == 2 and not work_dir_for(out).exists()
    assert validate_dataset(out, progress=False) == []


def test_thresholds_apply_without_reconverting(bag_dir, tmp_path):
    out = tmp_path / "ds"
    bags = [bag_dir / "mcap_ok", bag_dir / "mcap_long_drop"]
    s = convert(bags, out, CFG, progress=False, keep_work=True, log=lambda *_: None)
    assert s["excluded"] == 1
    s = convert(bags, out, CFG, QualityThresholds(max_gap_s=2.0, max_gap_fraction=0.5), overwrite=True,
                progress=False, log=lambda *_: None)
    assert s["episodes"] == 2 and s["excluded"] == 0


def test_cli_convert_and_validate(bag_dir, tmp_path, capsys):
    from psi0_bringup.cli import main

    out = tmp_path / "ds"
    rc = main(["convert", str(bag_dir / "mcap_ok"), "--out", str(out), "--no-progress",
               "--set", "image_height=24", "--set", "image_width=32", "--set", "store_video=false"])
    assert rc == 0
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["features"][CFG.image_key]["shape"] == [24, 32, 3] and info["video_path"] is None
    assert main(["dataset-validate", str(out), "--no-progress"]) == 0
    assert main(["convert", str(bag_dir / "mcap_ok"), "--out", str(out), "--no-progress"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["convert", str(bag_dir / "mcap_ok"), "--out", str(tmp_path / "x"), "--set", "imag_topic=/a"]) == 2
    assert "did you mean 'image_topic'" in capsys.readouterr().err
    assert main(["convert", str(bag_dir / "mcap_corrupt"), "--out", str(tmp_path / "y"), "--no-progress"]) == 2
    assert "no episode passed" in capsys.readouterr().err
    assert main(["dataset-validate", str(tmp_path)]) == 1


def test_parallel_jobs_give_the_same_dataset(bag_dir, dataset, tmp_path):
    out = tmp_path / "ds"
    names = ["mcap_ok", "sqlite_ok", "mcap_corrupt"]
    s = convert([bag_dir / n for n in names], out, CFG, jobs=2, progress=False, log=lambda *_: None)
    assert s["episodes"] == 2 and s["skipped"] == 1
    par = Psi0Dataset(out, action_horizon=5)
    ref = Psi0Dataset(dataset[0], action_horizon=5, load_images=False)
    for e, name in enumerate(names[:2]):
        src = pd.read_parquet(dataset[0] / layout.EPISODES_PATH)
        ref_ep = int(src[src["source_bag"].str.endswith("/" + name)]["episode_index"].iloc[0])
        np.testing.assert_array_equal(par.action[par.episode_index == e], ref.action[ref.episode_index == ref_ep])
        np.testing.assert_array_equal(par.state[par.episode_index == e], ref.state[ref.episode_index == ref_ep])
