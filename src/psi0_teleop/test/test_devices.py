"""Devices: synthetic determinism, session record/replay, XRoboToolkit mapping and missing binding."""
import json

import numpy as np
import pytest

from psi0_teleop.devices import DeviceError, TRACKER_NAMES, make_device
from psi0_teleop.devices.replay import ReplayDevice, SessionWriter
from psi0_teleop.devices.synthetic import Segment, SyntheticOperator, load_script
from psi0_teleop.devices.xrobotoolkit import SMPL_INDEX, import_sdk, sample_from_sdk
from psi0_teleop.geometry import R_PICO_TO_ROBOT


def collect(dev, t_end, dt=0.05):
    trackers, gloves, t = [], [], 0.0
    while t <= t_end + 1e-9:
        tr, gl = dev.poll(t)
        trackers += tr
        gloves += gl
        t += dt
    return trackers, gloves


def test_synthetic_is_seeded_and_rates_are_right():
    script = [Segment(1.0), Segment(1.0, walk=(0.3, 0.0))]
    a = collect(SyntheticOperator(script, seed=4), 1.9)
    b = collect(SyntheticOperator(script, seed=4), 1.9)
    c = collect(SyntheticOperator(script, seed=5), 1.9)
    pa = np.array([s.poses["head"].pos for s in a[0]])
    assert np.array_equal(pa, np.array([s.poses["head"].pos for s in b[0]]))
    assert not np.allclose(pa, np.array([s.poses["head"].pos for s in c[0]]))
    assert len(a[0]) == pytest.approx(1.9 * 90, abs=2) and len(a[1]) == pytest.approx(1.9 * 120, abs=2)
    # PICO frame: Y is up -> the head is the highest tracker; walking forward moves along -Z (start heading ~0).
    s = a[0][-1]
    assert s.poses["head"].pos[1] > s.poses["waist"].pos[1] > s.poses["left_foot"].pos[1]
    assert (a[0][-1].poses["waist"].pos - a[0][100].poses["waist"].pos)[2] < -0.15


def test_script_loading_and_errors(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("- {duration: 1.0, label: a}\n- {duration: 2, right_wrist: {pos: [0.3, -0.2, 0.9]}, right_grip: 1}\n")
    segs = load_script(str(p))
    assert segs[1].right_wrist.pos == (0.3, -0.2, 0.9) and segs[1].right_grip == 1
    with pytest.raises(ValueError, match="unknown key"):
        load_script('[{"duration": 1, "jump": 2}]')
    with pytest.raises(ValueError, match="duration"):
        load_script('[{"duration": 0}]')
    with pytest.raises(ValueError, match="grip"):
        load_script('[{"duration": 1, "left_grip": 2}]')
    with pytest.raises(DeviceError, match="robot reference"):
        SyntheticOperator(segs, seed=0)


def test_session_record_and_replay_round_trip(tmp_path):
    op = SyntheticOperator([Segment(1.0), Segment(1.0, walk=(0.3, 0.1), left_grip=0.5)], seed=3)
    trackers, gloves = collect(op, 2.0)
    path = tmp_path / "session.jsonl"
    w = SessionWriter(path, source="synthetic")
    w.write(trackers, gloves)
    w.close()
    rep = ReplayDevice(path)
    t0 = 100.0
    rt, rg = [], []
    t = t0
    while not rep.done():
        a, b = rep.poll(t)
        rt += a
        rg += b
        t += 0.01
    assert len(rt) == len(trackers) and len(rg) == len(gloves)
    offset = rt[0].stamp - trackers[0].stamp
    for x, y in zip(trackers, rt):
        assert y.stamp - x.stamp == pytest.approx(offset, abs=2e-6)
        for n in TRACKER_NAMES:
            assert np.allclose(x.poses[n].pos, y.poses[n].pos) and np.allclose(x.poses[n].rot, y.poses[n].rot)
    assert np.allclose(gloves[-1].left.ergonomics, rg[-1].left.ergonomics)
    with pytest.raises(FileExistsError):
        SessionWriter(path)


def test_replay_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "tracker"}\n')
    with pytest.raises(DeviceError, match="not a psi0 operator session"):
        ReplayDevice(bad)
    with pytest.raises(DeviceError, match="does not exist"):
        ReplayDevice(tmp_path / "nope.jsonl")
    with pytest.raises(DeviceError, match="session file"):
        make_device("replay")
    with pytest.raises(DeviceError, match="unknown device"):
        make_device("kinect")


def test_xrobotoolkit_missing_binding_is_a_clear_error():
    try:
        import xrobotoolkit_sdk  # noqa: F401
        pytest.skip("binding installed here")
    except ImportError:
        pass
    with pytest.raises(DeviceError, match="not on PyPI"):
        import_sdk()


def test_xrobotoolkit_body_mapping():
    body = np.zeros((24, 7))
    body[:, 6] = 1.0
    for name, i in SMPL_INDEX.items():
        body[i, :3] = [i, 2 * i, 3 * i]
    head = [0.0, 1.6, 0.0, 0.0, 0.0, 0.0, 1.0]
    s = sample_from_sdk(head, body, {"A": True, "B": False}, 1.5)
    assert s.engage and not s.estop and s.stamp == 1.5
    for name, i in SMPL_INDEX.items():
        assert np.allclose(s.poses[name].pos, [i, 2 * i, 3 * i])
    assert np.allclose(s.poses["head"].pos, [0, 1.6, 0])
    body[20, 3:] = 0.0   # zero quaternion -> invalid, not a crash
    s = sample_from_sdk(head, body, {"Y": True}, 2.0)
    assert s.poses["left_wrist"] is None and s.estop
    with pytest.raises(DeviceError, match="shape"):
        sample_from_sdk(head, np.zeros((10, 7)), {}, 0.0)
