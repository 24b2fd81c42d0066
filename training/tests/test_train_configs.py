"""Training config registry, command-line overrides and `psi0 train` errors."""
import json

import pytest

from psi0_common.config import ConfigError
from psi0_training.train.configs import REGISTRY, TrainConfig, get_config, parse_overrides
from psi0_training.train_cmd import main


def test_registry_has_debug_and_full_entries_of_every_stage():
    for stage in (1, 2, 3):
        assert REGISTRY[f"debug_stage{stage}"].stage == stage and REGISTRY[f"debug_stage{stage}"].model_size == "tiny"
        assert REGISTRY[f"full_stage{stage}"].model_size == "full"
    s1, s3 = REGISTRY["full_stage1"], REGISTRY["full_stage3"]
    assert (s1.action_dim, s1.fast_vocab_size, s1.fast_scale, s1.normalization) == (48, 2048, 100.0, "quantile")
    assert (s3.steps, s3.batch_size, s3.lr, s3.schedule, s3.normalization) == (40_000, 128, 1e-4, "cosine", "minmax")
    assert s3.freeze_backbone and s3.max_delay == 8 and REGISTRY["full_stage2"].freeze_backbone


def test_overrides_are_typed_and_validated():
    cfg = get_config("debug_stage3", parse_overrides(["--steps", "7", "--lr=3e-4", "--freeze-backbone", "false",
                                                      "--output_dir", "runs/x"]))
    assert (cfg.steps, cfg.lr, cfg.freeze_backbone, cfg.output_dir) == (7, 3e-4, False, "runs/x")
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        get_config("debug_stage3", {"stpes": 3})
    with pytest.raises(ConfigError, match="did you mean 'debug_stage3'"):
        get_config("debug_stag3")
    with pytest.raises(ConfigError, match="expected int"):
        get_config("debug_stage3", {"steps": "many"})
    with pytest.raises(ConfigError, match="below the minimum"):
        get_config("debug_stage3", {"lr": -1.0})
    with pytest.raises(ConfigError, match="not one of"):
        get_config("debug_stage3", {"normalization": "zscore"})
    with pytest.raises(ConfigError, match="36-D action / 32-D state"):
        get_config("debug_stage2", {"action_dim": 48})
    with pytest.raises(ConfigError, match="max_delay 30 must be < horizon 30"):
        get_config("debug_stage3", {"max_delay": 30})
    with pytest.raises(ConfigError, match="needs --backbone_path"):
        REGISTRY["full_stage3"].check_runnable()


def test_config_json_round_trip():
    cfg = get_config("debug_stage1", {"steps": 3})
    assert TrainConfig.from_json(cfg.to_json()) == cfg


def test_psi0_train_command(capsys, tmp_path):
    assert main(["--list"]) == 0 and "full_stage3" in capsys.readouterr().out
    assert main(["debug_stage3", "--steps", "5", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 5
    assert main(["debug_stag3"]) == 2 and "did you mean 'debug_stage3'" in capsys.readouterr().err
    assert main(["debug_stage3", "--bach_size", "4"]) == 2 and "did you mean 'batch_size'" in capsys.readouterr().err
    assert main(["debug_stage3", "--output_dir", str(tmp_path)]) == 2
    assert "no dataset given" in capsys.readouterr().err
    assert main(["debug_stage3", "--dataset", str(tmp_path / "none"), "--output_dir", str(tmp_path)]) == 2
    assert "meta/info.json" in capsys.readouterr().err


def test_psi0_cli_registers_train():
    from psi0_bringup.cli import SUBCOMMANDS
    assert SUBCOMMANDS["train"][0] == "psi0_training.train_cmd"


def test_docs_list_every_training_field():
    """docs/training.md carries the generated field table; a new or changed field must be documented."""
    from pathlib import Path

    from psi0_common.config import markdown_table
    from psi0_training.train.configs import TrainConfig
    doc = Path(__file__).resolve().parents[2] / "docs" / "training.md"
    assert markdown_table(TrainConfig) in doc.read_text(), (
        "docs/training.md field table is stale: regenerate it with psi0_common.config.markdown_table(TrainConfig)")
