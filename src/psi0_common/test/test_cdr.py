"""CDR byte layouts: hand-computed offsets, and byte-exact agreement with rclpy's own serializer."""
import numpy as np
import pytest

from psi0_common.cdr import FixedLayout
from psi0_common.unitree_codec import NUM_MOTORS, LowCmdData


def test_offsets_follow_cdr_alignment():
    # a at 0, b aligned to 8, c (3 x int16) after it; offsets count from the end of the 4-byte header.
    layout = FixedLayout({"a": "uint8", "b": "double", "c": "int16[3]", "d": "uint8", "e": "float"})
    assert layout.fields["a"].offsets.tolist() == [4]
    assert layout.fields["b"].offsets.tolist() == [4 + 8]
    assert layout.fields["c"].offsets.tolist() == [4 + 16, 4 + 18, 4 + 20]
    assert layout.fields["d"].offsets.tolist() == [4 + 22]
    assert layout.fields["e"].offsets.tolist() == [4 + 24]
    assert layout.size == 4 + 28


def test_nested_arrays_realign_each_element():
    inner = {"flag": "uint8", "x": "float"}
    layout = FixedLayout({"head": "uint16", "items": "pkg/Inner[3]"}, resolve=lambda name: inner)
    # head 0-2, item 0: flag 2, x 4-8; item 1: flag 8, x 12-16; item 2: flag 16, x 20-24.
    assert layout.fields["items.flag"].offsets.tolist() == [6, 12, 20]
    assert layout.fields["items.x"].offsets.tolist() == [8, 16, 24]
    buf = layout.new_buffer()
    layout.write(buf, "items.x", [1.5, -2.0, 3.25])
    layout.write(buf, "items.flag", 7)
    assert layout.read(buf.tobytes(), "items.x").tolist() == [1.5, -2.0, 3.25]
    assert layout.read(buf.tobytes(), "items.flag").tolist() == [7, 7, 7]


@pytest.mark.parametrize("type_str", ["string", "float[]", "sequence<float>", "string<=8", "int32[<=4]"])
def test_variable_size_fields_are_refused(type_str):
    with pytest.raises(ValueError, match="not fixed-size"):
        FixedLayout({"v": type_str})


def test_nested_type_needs_a_resolver():
    with pytest.raises(ValueError, match="no resolver"):
        FixedLayout({"m": "pkg/Other"})


# -- against rclpy's serializer (the real wire bytes) ---------------------------------------------------

def _random_lowstate(rng):
    from unitree_hg.msg import LowState

    msg = LowState()
    msg.version = [int(v) for v in rng.integers(0, 2**32, 2)]
    msg.mode_pr, msg.mode_machine, msg.tick = 1, int(rng.integers(0, 256)), int(rng.integers(0, 2**32))
    imu = msg.imu_state
    imu.quaternion = [float(v) for v in rng.normal(size=4)]
    imu.gyroscope = [float(v) for v in rng.normal(size=3)]
    imu.accelerometer = [float(v) for v in rng.normal(size=3)]
    imu.rpy = [float(v) for v in rng.normal(size=3)]
    imu.temperature = int(rng.integers(-100, 100))
    for m in msg.motor_state:
        m.mode = int(rng.integers(0, 256))
        m.q, m.dq, m.ddq, m.tau_est, m.vol = (float(v) for v in rng.normal(size=5))
        m.temperature = [int(v) for v in rng.integers(-50, 90, 2)]
        m.sensor = [int(v) for v in rng.integers(0, 2**32, 2)]
        m.motorstate = int(rng.integers(0, 2**32))
    msg.wireless_remote = [int(v) for v in rng.integers(0, 256, 40)]
    msg.crc = int(rng.integers(0, 2**32))
    return msg


def test_lowstate_fields_match_rclpy():
    pytest.importorskip("rclpy")
    from rclpy.serialization import deserialize_message, serialize_message
    from unitree_hg.msg import LowState

    from psi0_common.rosutil.unitree_msgs import LOWSTATE_WIRE, lowstate_fields

    rng = np.random.default_rng(3)
    for _ in range(5):
        msg = _random_lowstate(rng)
        raw = serialize_message(msg)
        assert len(raw) == LOWSTATE_WIRE.size
        got = lowstate_fields(raw)
        assert got.mode_machine == msg.mode_machine
        # float32 on the wire: what rclpy's deserializer gives back, exactly.
        back = deserialize_message(raw, LowState)
        np.testing.assert_array_equal(got.q, [m.q for m in back.motor_state])
        np.testing.assert_array_equal(got.dq, [m.dq for m in back.motor_state])
        np.testing.assert_array_equal(got.quaternion, np.asarray(back.imu_state.quaternion, float))
        np.testing.assert_array_equal(got.gyroscope, np.asarray(back.imu_state.gyroscope, float))
        np.testing.assert_array_equal(got.rpy, np.asarray(back.imu_state.rpy, float))
        np.testing.assert_allclose(got.q, [m.q for m in msg.motor_state], rtol=1e-6)
        for field in ("motor_state.motorstate", "motor_state.temperature", "tick", "wireless_remote", "crc"):
            assert LOWSTATE_WIRE.read(raw, field).size > 0
        assert LOWSTATE_WIRE.read(raw, "motor_state.motorstate").tolist() == [m.motorstate for m in msg.motor_state]
        assert LOWSTATE_WIRE.read(raw, "wireless_remote").tolist() == list(msg.wireless_remote)
        assert int(LOWSTATE_WIRE.read(raw, "crc")[0]) == msg.crc


def test_lowstate_reader_refuses_foreign_bytes():
    pytest.importorskip("rclpy")
    from psi0_common.rosutil.unitree_msgs import LOWSTATE_WIRE

    with pytest.raises(ValueError, match="bytes of CDR"):
        LOWSTATE_WIRE.check(b"\x00\x01\x00\x00" + bytes(10))
    with pytest.raises(ValueError, match="not little-endian"):
        LOWSTATE_WIRE.check(b"\x00\x00\x00\x00" + bytes(LOWSTATE_WIRE.size - 4))


def test_lowcmd_bytes_equal_rclpy_serialization():
    pytest.importorskip("rclpy")
    from rclpy.serialization import deserialize_message, serialize_message
    from unitree_hg.msg import LowCmd

    from psi0_common.rosutil.unitree_msgs import LOWCMD_WIRE, data_to_lowcmd, lowcmd_to_cdr
    from psi0_common.unitree_codec import with_crc

    rng = np.random.default_rng(4)
    for _ in range(5):
        data = LowCmdData(mode_pr=0, mode_machine=int(rng.integers(0, 256)), reserve=(1, 2, 3, 4))
        m = data.motors
        m.mode[:] = rng.integers(0, 2, NUM_MOTORS)
        for f in ("q", "dq", "tau", "kp", "kd"):
            getattr(m, f)[:] = rng.normal(size=NUM_MOTORS)
        m.reserve[:] = rng.integers(0, 2**32, NUM_MOTORS)
        with_crc(data)
        raw = lowcmd_to_cdr(data)
        reference = bytes(serialize_message(data_to_lowcmd(data)))
        assert len(raw) == len(reference) == LOWCMD_WIRE.size
        # Every field byte agrees; alignment padding is unspecified (Fast DDS leaves it uninitialised).
        used = np.zeros(len(raw), bool)
        used[:4] = True
        for field in LOWCMD_WIRE.fields.values():
            for off in field.offsets:
                used[off:off + field.dtype.itemsize] = True
        assert used.sum() == 4 + 2 + NUM_MOTORS * 25 + 5 * 4
        a, b = np.frombuffer(raw, np.uint8), np.frombuffer(reference, np.uint8)
        np.testing.assert_array_equal(a[used], b[used])
        assert not a[~used].any()  # ours zeroes the padding
        back = deserialize_message(raw, LowCmd)
        assert back.crc == data.crc and back.mode_machine == data.mode_machine
        assert [c.kp for c in back.motor_cmd] == [float(v) for v in m.kp]


def test_lowstate_writer_round_trips_through_rclpy():
    pytest.importorskip("rclpy")
    from rclpy.serialization import deserialize_message
    from unitree_hg.msg import LowState

    from psi0_common.rosutil.unitree_msgs import LowStateWriter, lowstate_fields

    rng = np.random.default_rng(5)
    writer = LowStateWriter(mode_machine=5, motor_mode=[1] * 29 + [0] * 6)
    for tick in (1, 2):
        q, dq, ddq, tau = (rng.normal(size=29) for _ in range(4))
        quat, gyro, acc, rpy = rng.normal(size=4), rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
        raw = writer.serialize(tick, quat, gyro, acc, rpy, q, dq, ddq, tau)
        msg = deserialize_message(raw, LowState)
        assert msg.tick == tick and msg.mode_machine == 5
        assert [m.mode for m in msg.motor_state] == [1] * 29 + [0] * 6
        np.testing.assert_allclose([m.q for m in msg.motor_state[:29]], q, rtol=1e-6)
        np.testing.assert_allclose([m.tau_est for m in msg.motor_state[:29]], tau, rtol=1e-6)
        assert [m.dq for m in msg.motor_state[29:]] == [0.0] * 6
        np.testing.assert_allclose(msg.imu_state.accelerometer, acc, rtol=1e-6)
        np.testing.assert_allclose(lowstate_fields(raw).rpy, rpy, rtol=1e-6)
