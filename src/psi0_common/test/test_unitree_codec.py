import struct

import numpy as np
import pytest

from psi0_common.unitree_codec import (LOWCMD_SIZE, NUM_MOTORS, LowCmdData, crc32_mpeg2, crc32_words, crc_ok,
                                       dex3_mode_byte, lowcmd_crc, pack_lowcmd, unpack_lowcmd, with_crc)


def crc32_core_reference(words):
    """Bit-by-bit transcription of Unitree's crc32_core (unitree_sdk2 / unitree_ros2 examples)."""
    crc = 0xFFFFFFFF
    poly = 0x04C11DB7
    for data in words:
        xbit = 1 << 31
        for _ in range(32):
            if crc & 0x80000000:
                crc = ((crc << 1) & 0xFFFFFFFF) ^ poly
            else:
                crc = (crc << 1) & 0xFFFFFFFF
            if data & xbit:
                crc ^= poly
            xbit >>= 1
    return crc


def random_cmd(seed):
    rng = np.random.default_rng(seed)
    cmd = LowCmdData(mode_pr=0, mode_machine=int(rng.integers(0, 256)))
    m = cmd.motors
    m.mode[:29] = 1
    m.q[:] = rng.uniform(-2, 2, NUM_MOTORS)
    m.dq[:] = rng.uniform(-1, 1, NUM_MOTORS)
    m.tau[:] = rng.uniform(-5, 5, NUM_MOTORS)
    m.kp[:] = rng.uniform(0, 300, NUM_MOTORS)
    m.kd[:] = rng.uniform(0, 8, NUM_MOTORS)
    return cmd


def test_crc32_mpeg2_catalogue_check_value():
    # Check value of CRC-32/MPEG-2 in the CRC catalogue (Greg Cook's reveng list).
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7


def test_packed_size_and_offsets():
    cmd = LowCmdData(mode_pr=1, mode_machine=5)
    cmd.motors.mode[3] = 1
    cmd.motors.q[3] = 0.5
    cmd.motors.kp[34] = 60.0
    cmd.reserve = (1, 2, 3, 4)
    cmd.crc = 0xDEADBEEF
    raw = pack_lowcmd(cmd)
    assert len(raw) == LOWCMD_SIZE == 1004
    assert raw[0:4] == bytes([1, 5, 0, 0])
    motor3 = 4 + 3 * 28
    assert raw[motor3] == 1 and raw[motor3 + 1:motor3 + 4] == b"\0\0\0"
    assert struct.unpack_from("<f", raw, motor3 + 4)[0] == 0.5
    assert struct.unpack_from("<f", raw, 4 + 34 * 28 + 4 + 12)[0] == 60.0  # kp of motor 34
    assert struct.unpack_from("<5I", raw, 984) == (1, 2, 3, 4, 0xDEADBEEF)


def test_crc_matches_unitree_reference_on_known_bytes():
    # All-zero command with mode_machine 5: the words the robot would CRC.
    cmd = LowCmdData(mode_machine=5)
    raw = pack_lowcmd(cmd)[:-4]
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    assert words[0] == 0x00000500
    assert crc32_words(raw) == crc32_core_reference(words)


@pytest.mark.parametrize("seed", range(5))
def test_crc_matches_reference_on_random_commands(seed):
    cmd = random_cmd(seed)
    raw = pack_lowcmd(cmd)[:-4]
    assert lowcmd_crc(cmd) == crc32_core_reference(struct.unpack(f"<{len(raw) // 4}I", raw))


def test_round_trip_pack_unpack_exact():
    cmd = with_crc(random_cmd(7))
    back = unpack_lowcmd(pack_lowcmd(cmd))
    assert back.mode_pr == cmd.mode_pr and back.mode_machine == cmd.mode_machine
    for f in ("mode", "q", "dq", "tau", "kp", "kd", "reserve"):
        np.testing.assert_array_equal(getattr(back.motors, f), getattr(cmd.motors, f))
    assert back.crc == cmd.crc and crc_ok(back)


def test_any_change_breaks_crc():
    cmd = with_crc(random_cmd(3))
    cmd.motors.q[10] += np.float32(1e-3)
    assert not crc_ok(cmd)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="1004"):
        unpack_lowcmd(b"\0" * 1000)
    with pytest.raises(ValueError, match="whole 32-bit words"):
        crc32_words(b"\0" * 5)
    cmd = LowCmdData()
    cmd.motors.q = np.zeros(29, np.float32)
    with pytest.raises(ValueError, match="'q' has 29"):
        pack_lowcmd(cmd)


def test_dex3_mode_byte():
    assert dex3_mode_byte(0) == 0x10
    assert dex3_mode_byte(6, status=0x01, timeout=True) == 0x96
    with pytest.raises(ValueError):
        dex3_mode_byte(16)
