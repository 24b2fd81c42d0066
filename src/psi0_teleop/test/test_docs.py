"""docs/teleop.md carries the generated parameter tables of every teleop node: keep them in sync."""
from pathlib import Path

import pytest

from psi0_common.config import markdown_table
from psi0_teleop.config import OperatorDriverConfig, RecorderConfig, TeleopConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "teleop.md"


@pytest.mark.parametrize("cls", [TeleopConfig, OperatorDriverConfig, RecorderConfig])
def test_parameter_table_is_current(cls):
    assert markdown_table(cls) in DOC.read_text(), (
        f"docs/teleop.md: the {cls.__name__} table is stale; regenerate it with "
        "psi0_common.config.markdown_table")
