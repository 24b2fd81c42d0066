"""Bags written by the project's own episode recorder (psi0_teleop.recorder) convert, and discarded ones are excluded."""
from __future__ import annotations

import heapq
import json

import numpy as np
import pytest

from data_test_config import CFG
from psi0_training.data import synthetic as syn
from psi0_training.data.convert import convert
from psi0_training.data.msgdefs import typestore_for

recorder = pytest.importorskip("psi0_teleop.recorder")


def _record(rec, spec, discard=False):
    store, _ = typestore_for([], syn.SYNTH_TYPES)
    class C:  # what the generators need of a connection: something to hand back
        def __init__(self, topic, msgtype):
            self.topic, self.msgtype = topic, msgtype

    streams = [syn._lowstate(spec, store, C("/lowstate", "unitree_hg/msg/LowState")),
               syn._hand(spec, store, C("/lf/dex3/left/state", "unitree_hg/msg/HandState"), 100),
               syn._hand(spec, store, C("/lf/dex3/right/state", "unitree_hg/msg/HandState"), 200),
               syn._actions(spec, store, C("/psi0/action", "psi0_msgs/msg/WholeBodyAction")),
               syn._images(spec, store, C("/psi0/camera/image", "sensor_msgs/msg/Image"))]
    path = rec.start("stack the cups", "carol")
    for ns, c, raw in heapq.merge(*streams, key=lambda e: e[0]):
        rec.on_message(c.topic, c.msgtype, raw, ns)
    rec.stop(discard=discard)
    return path


def test_recorder_output_converts(tmp_path):
    rec = recorder.EpisodeRecorder(tmp_path / "rec", storage="mcap", log=lambda *_: None)
    try:
        spec = syn.SynthSpec(duration_s=2.0, image_hw=(60, 80))
        kept = _record(rec, spec)
        dropped = _record(rec, syn.SynthSpec(duration_s=2.0, image_hw=(60, 80), start_ns=syn.T0_NS + 10**10),
                          discard=True)
    finally:
        rec.close()
    out = tmp_path / "ds"
    s = convert([kept, dropped], out, CFG, progress=False, log=lambda *_: None)
    assert s["episodes"] == 1 and s["excluded"] == 1
    q = json.loads((out / "meta" / "quality.json").read_text())
    assert q["included"][0]["task"] == "stack the cups" and q["included"][0]["operator"] == "carol"
    assert "discarded" in q["excluded"][0]["exclusion_reasons"][0]
    prov = json.loads((out / "meta" / "provenance.json").read_text())
    assert set(prov["sources"][0]["type_sources"].values()) == {"embedded"}   # definitions the recorder embedded
    from psi0_training.data.dataset import Psi0Dataset
    ds = Psi0Dataset(out, action_horizon=1, load_images=False)
    assert len(ds) >= 55 and np.isfinite(ds.action).all() and np.isfinite(ds.state).all()
