"""The RTC max delay the policy node runs with follows the checkpoint's training-time max delay."""
import json

import pytest

from psi0_policy.model.checkpoint import CheckpointError, trained_max_delay
from psi0_policy.policy_config import PSI0_MAX_DELAY, resolve_max_delay


def test_trained_max_delay_reads_train_config(tmp_path):
    assert trained_max_delay(tmp_path) is None                      # hand-made checkpoint: unknown
    (tmp_path / "train_config.json").write_text(json.dumps({"max_delay": 14, "steps": 10}))
    assert trained_max_delay(tmp_path) == 14
    (tmp_path / "train_config.json").write_text(json.dumps({"steps": 10}))
    assert trained_max_delay(tmp_path) is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"max_delay": -1}), json.dumps({"max_delay": "8"})])
def test_trained_max_delay_rejects_bad_files(tmp_path, text):
    (tmp_path / "train_config.json").write_text(text)
    with pytest.raises(CheckpointError, match="train_config.json"):
        trained_max_delay(tmp_path)


def test_resolve_max_delay():
    assert resolve_max_delay(0, 14) == (14, "")                     # default: what the model was trained with
    assert resolve_max_delay(0, None) == (PSI0_MAX_DELAY, "")       # unknown: the Psi0 value
    value, warning = resolve_max_delay(0, 0)                        # trained without prefixes: give none
    assert value == 1 and "without RTC prefixes" in warning
    assert resolve_max_delay(6, 14) == (6, "")                      # shorter prefixes than trained: fine
    value, warning = resolve_max_delay(12, 8)                       # longer than trained: honoured, warned
    assert value == 12 and "never seen in training" in warning
