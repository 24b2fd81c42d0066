"""Grid alignment, clock fallback and the fixed-offset CDR reader."""
from __future__ import annotations

import numpy as np
import pytest

from psi0_training.data.config import FeatureTiming
from psi0_training.data.extract import decode_image
from psi0_training.data.fastpath import FieldReader, Unsupported
from psi0_training.data.msgdefs import typestore_for
from psi0_training.data.synthetic import SYNTH_TYPES
from psi0_training.data.resample import align, effective_times, longest_run, make_grid

MS = 1_000_000


def test_align_policies():
    t = np.array([0, 10, 20, 30]) * MS
    v = np.array([[0.0], [1.0], [2.0], [3.0]])
    ticks = np.array([4, 6, 20, 45]) * MS
    prev = align(t, ticks, FeatureTiming("previous", 0.01), v)
    assert prev.values[:, 0].tolist() == [0, 0, 2, 3]
    assert prev.gap.tolist() == [False, False, False, True]           # 15 ms after the last sample
    near = align(t, ticks, FeatureTiming("nearest", 0.01), v)
    assert near.values[:, 0].tolist() == [0, 1, 2, 3]
    lin = align(t, ticks, FeatureTiming("linear", 0.01), v)
    np.testing.assert_allclose(lin.values[:, 0], [0.4, 0.6, 2.0, 3.0])
    before = align(t + 100 * MS, ticks, FeatureTiming("previous", 0.01), v)
    assert before.gap.all()                                              # nothing at or before the ticks


def test_clock_jump_detection_uses_receive_time():
    n = 30
    header = np.arange(n) * 33 * MS + 10**18
    recv = header + 20 * MS
    header[20:] += 5_000 * MS               # camera clock jumps 5 s
    header[3] = 0                            # a driver that forgot to stamp
    timed = effective_times(recv, header, 0.25)
    assert timed.fallback == 11
    np.testing.assert_array_equal(timed.t_ns, recv - 20 * MS)
    assert timed.skew_median_s == pytest.approx(0.02)


def test_grid_starts_when_every_feature_has_data():
    cam = np.arange(0, 100) * 33_333_333
    ticks = make_grid(cam, 30, [(50 * MS, 2_000 * MS), (0, 3_000 * MS)])
    assert ticks[0] == cam[2] and ticks[-1] <= 2_000 * MS
    assert make_grid(cam, 30, [(10_000 * MS, 11_000 * MS)]).size == 0
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1], bool)) == 3


def test_fast_field_reader_matches_deserializer():
    store, _ = typestore_for([], SYNTH_TYPES)
    T = store.types
    motor = lambda q: T["unitree_hg/msg/MotorState"](mode=3, q=q, dq=1.0, ddq=2.0, tau_est=3.0,  # noqa: E731
                                                     temperature=np.array([40, 41], np.int16), vol=24.0,
                                                     sensor=np.zeros(2, np.uint32), motorstate=7,
                                                     reserve=np.zeros(4, np.uint32))
    imu = T["unitree_hg/msg/IMUState"](quaternion=np.array([1, 0, 0, 0], np.float32),
                                       gyroscope=np.ones(3, np.float32), accelerometer=np.ones(3, np.float32),
                                       rpy=np.array([0.1, 0.2, 0.3], np.float32), temperature=30)
    hand = T["unitree_hg/msg/HandState"](motor_state=[motor(0.1 * i) for i in range(7)], press_sensor_state=[],
                                         imu_state=imu, power_v=1.0, power_a=2.0, system_v=3.0, device_v=4.0,
                                         error=np.zeros(2, np.uint32), reserve=np.zeros(2, np.uint32))
    raw = bytes(store.serialize_cdr(hand, "unitree_hg/msg/HandState"))
    reader = FieldReader(store, "unitree_hg/msg/HandState", [f"motor_state[{i}].q" for i in range(7)])
    assert reader.verify(store, raw)
    np.testing.assert_allclose(reader.read(raw), [np.float32(0.1 * i) for i in range(7)])
    short = T["unitree_hg/msg/HandState"](**{**{f: getattr(hand, f) for f in hand.__dataclass_fields__},
                                             "motor_state": [motor(0.0)] * 3})
    assert reader.read(bytes(store.serialize_cdr(short, "unitree_hg/msg/HandState"))) is None  # 3 < 7 motors
    with pytest.raises(Unsupported):
        FieldReader(store, "unitree_hg/msg/HandState", ["imu_state.rpy[0]", "power_v"])  # after a sequence


def test_decode_image_encodings_and_row_padding():
    store, _ = typestore_for([], SYNTH_TYPES)
    T = store.types
    rgb = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    def msg(enc, arr, pad=0):
        h, w, c = arr.shape
        rows = np.concatenate([arr.reshape(h, w * c), np.zeros((h, pad), np.uint8)], axis=1)
        return T["sensor_msgs/msg/Image"](header=T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id=""), height=h, width=w,
            encoding=enc, is_bigendian=0, step=w * c + pad, data=rows.reshape(-1))
    np.testing.assert_array_equal(decode_image(msg("rgb8", rgb, pad=5), 6, 8), rgb)
    np.testing.assert_array_equal(decode_image(msg("bgr8", rgb[..., ::-1].copy()), 6, 8), rgb)
    gray = decode_image(msg("mono8", rgb[..., :1].copy()), 6, 8)
    assert gray.shape == (6, 8, 3) and (gray[..., 2] == rgb[..., 0]).all()
    assert decode_image(msg("rgb8", rgb), 3, 4).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="encoding"):
        decode_image(msg("16UC1", rgb), 6, 8)
