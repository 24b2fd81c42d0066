"""The `full` code path on a local Qwen3-VL directory (a tiny random one written here: no downloads).

Checks: Psi0Model loads the backbone with from_pretrained from the directory, feature_layer truncation,
the Qwen tokenizer + preprocessor_config.json path of the processor, our patch layout equals Qwen's image
processor, and a checkpoint of such a model (with its processor/) round-trips exactly.
"""
import dataclasses
import json

import numpy as np
import pytest
import torch

from psi0_policy.model import Psi0Model, Psi0Processor, load_checkpoint, model_config, save_checkpoint
from psi0_policy.model.config import ExpertConfig, _random_qwen_config
from psi0_policy.model.normalize import NormStats
from psi0_policy.model.processor import build_char_tokenizer, patchify

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    from transformers import PreTrainedTokenizerFast, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    d = tmp_path_factory.mktemp("qwen3vl")
    torch.manual_seed(0)
    hf = Qwen3VLConfig(**_random_qwen_config(32, 1, 2, 64, 3, 2, 1))
    Qwen3VLForConditionalGeneration(hf).save_pretrained(str(d))
    PreTrainedTokenizerFast(tokenizer_object=build_char_tokenizer(), pad_token="<pad>").save_pretrained(str(d))
    (d / "preprocessor_config.json").write_text(json.dumps({
        "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}))
    return d


def _cfg(path, layer):
    cfg = model_config("full", backbone_path=str(path))
    return dataclasses.replace(cfg, dtype="float32", expert=ExpertConfig(width=64, depth=2, heads=2),
                               backbone=dataclasses.replace(cfg.backbone, feature_layer=layer))


def test_full_path_loads_local_dir_and_round_trips(qwen_dir, tmp_path):
    cfg = _cfg(qwen_dir, 2)
    model = Psi0Model(cfg)
    assert len(model.backbone.model.language_model.layers) == 2      # truncated at feature_layer
    proc = Psi0Processor.from_backbone_dir(cfg, qwen_dir)
    img = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    inp = proc([img], ["pick up the cube"], np.zeros((1, 32)))
    assert int(inp.mm_token_type_ids.sum()) == 80
    noise = torch.randn(1, 30, 36)
    a = model.sample(inp, 4, noise=noise)
    save_checkpoint(tmp_path / "ck", model, NormStats.identity(36, 32), proc)
    assert (tmp_path / "ck" / "processor" / "tokenizer.json").is_file()
    m2, _, proc2 = load_checkpoint(tmp_path / "ck")
    assert len(m2.backbone.model.language_model.layers) == 2
    inp2 = proc2([img], ["pick up the cube"], np.zeros((1, 32)))
    assert torch.equal(inp.input_ids, inp2.input_ids) and torch.equal(inp.pixel_values, inp2.pixel_values)
    assert torch.equal(a, m2.sample(inp2, 4, noise=noise))


def test_patch_layout_matches_qwen_image_processor():
    pil_mod = pytest.importorskip("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
    ip = pil_mod.Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                          image_mean=[0.5] * 3, image_std=[0.5] * 3)
    img = np.random.default_rng(1).integers(0, 255, (256, 320, 3), dtype=np.uint8)  # already on the grid
    ref = ip(images=[img], return_tensors="pt")
    x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0 - 0.5) / 0.5
    mine, gh, gw = patchify(x, 16, 2, 2)
    assert ref["image_grid_thw"].tolist() == [[1, gh, gw]]
    torch.testing.assert_close(mine, ref["pixel_values"].float(), rtol=0, atol=1e-5)


def test_processor_accepts_a_loaded_qwen_processor(qwen_dir):
    """The AutoProcessor form (used by training/) gives the same inputs as from_backbone_dir."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    cfg = _cfg(qwen_dir, 2)
    ip = SimpleNamespace(patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3,
                         image_std=[0.5] * 3)
    fake = SimpleNamespace(tokenizer=AutoTokenizer.from_pretrained(str(qwen_dir)), image_processor=ip)
    a = Psi0Processor(cfg, qwen_processor=fake)
    b = Psi0Processor.from_backbone_dir(cfg, qwen_dir)
    img = np.random.default_rng(2).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    ia, ib = a([img], ["wave"], np.zeros((1, 32))), b([img], ["wave"], np.zeros((1, 32)))
    assert a.qwen is fake and torch.equal(ia.input_ids, ib.input_ids) and torch.equal(ia.pixel_values, ib.pixel_values)
