"""Fixtures: synthetic episode bags (written with rosbags, both storages) and a dataset converted from them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from psi0_training.data.config import QualityThresholds
from psi0_training.data.convert import convert
from psi0_training.data.synthetic import SynthSpec, write_episode

from data_test_config import CFG, SMALL  # noqa: E402,F401  (shared with the test modules)


def corrupt(bag: Path) -> None:
    """Damage the storage file in place: truncate an MCAP, scribble over an SQLite file."""
    f = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    size = f.stat().st_size
    if f.suffix == ".mcap":
        os.truncate(f, size // 2)
    else:
        with open(f, "r+b") as fh:
            fh.seek(size // 3)
            fh.write(b"\xde\xad\xbe\xef" * (size // 12))


BAGS = {
    "mcap_ok": SynthSpec(storage="mcap", **SMALL),
    "sqlite_ok": SynthSpec(storage="sqlite3", task="place the cup", operator="bob", **SMALL),
    "mcap_nodefs": SynthSpec(storage="mcap", embed_definitions=False, **SMALL),
    "sqlite_nodefs_dropped": SynthSpec(storage="sqlite3", embed_definitions=False, drop_frames=(10, 20, 21, 22),
                                       **SMALL),
    "sqlite_legacy": SynthSpec(storage="sqlite3", legacy_sqlite=True, **SMALL),
    "mcap_clockjump": SynthSpec(storage="mcap", clock_jump=(1.7, 5.0), garbled_action_frames=(30,), **SMALL),
    "sqlite_task_topic": SynthSpec(storage="sqlite3", task="wipe the table", task_in_metadata=False,
                                   task_topic="/psi0/task", **SMALL),
    "mcap_missing_action": SynthSpec(storage="mcap", omit_topics=("/psi0/action",), **SMALL),
    "mcap_discarded": SynthSpec(storage="mcap", custom=(("discarded", "true"),), **SMALL),
    "mcap_nan": SynthSpec(storage="mcap", nan_action_frames=(5,), **SMALL),
    "mcap_long_drop": SynthSpec(storage="mcap", drop_frames=tuple(range(20, 45)), **SMALL),
    "sqlite_frozen": SynthSpec(storage="sqlite3", freeze_frames=(5, 75), duration_s=3.0, image_hw=(60, 80)),
    "mcap_corrupt": SynthSpec(storage="mcap", **SMALL),
    "sqlite_corrupt": SynthSpec(storage="sqlite3", **SMALL),
}


@pytest.fixture(scope="session")
def bag_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bags")
    for name, spec in BAGS.items():
        write_episode(d / name, spec)
    corrupt(d / "mcap_corrupt")
    corrupt(d / "sqlite_corrupt")
    return d


@pytest.fixture(scope="session")
def dataset(bag_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ds") / "dataset"
    summary = convert([bag_dir / n for n in BAGS], out, CFG, QualityThresholds(), progress=False, log=lambda *_: None)
    return out, summary


@pytest.fixture
def dataset_copy(dataset, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(dataset[0], dst)
    return dst
