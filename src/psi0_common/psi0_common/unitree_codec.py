"""The G1 LowCmd wire layout and its CRC, without ROS.

The robot's firmware checks a CRC over the command packed as its C struct:
`<2B2x` (mode_pr, mode_machine, 2 pad bytes), 35 motor commands of `B3x5fI`
(mode, 3 pad bytes, q, dq, tau, kp, kd, reserve), then `5I` (reserve[4], crc):
1004 bytes. The CRC is Unitree's `crc32_core`: CRC-32 with polynomial
0x04C11DB7, initial value 0xFFFFFFFF, no reflection and no final XOR, fed
the packed bytes as 32-bit little-endian words, most significant bit first,
over every word but the last (the crc field itself). A command with a wrong
CRC is silently ignored by the robot.

That CRC is CRC-32/MPEG-2 over the words in big-endian byte order, which
`zlib.crc32` (the reflected CRC-32) computes on bit-reversed bytes: this keeps
the 500 Hz path in C instead of a Python bit loop.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

NUM_MOTORS = 35
_HEADER = struct.Struct("<2B2x")
_MOTOR = struct.Struct("<B3x5fI")
_TRAILER = struct.Struct("<5I")
LOWCMD_SIZE = _HEADER.size + NUM_MOTORS * _MOTOR.size + _TRAILER.size  # 1004

_BIT_REVERSE = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, MSB first, no final XOR)."""
    reflected = zlib.crc32(data.translate(_BIT_REVERSE)) ^ 0xFFFFFFFF
    return _reverse32(reflected)


def crc32_words(data: bytes) -> int:
    """Unitree's crc32_core over `data` taken as little-endian 32-bit words."""
    if len(data) % 4:
        raise ValueError(f"CRC input must be whole 32-bit words, got {len(data)} bytes")
    return crc32_mpeg2(np.frombuffer(data, dtype="<u4").astype(">u4").tobytes())


@dataclass
class MotorCommands:
    """Per-motor command arrays in motor order (length NUM_MOTORS by default)."""

    mode: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.uint8))
    q: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.float32))
    dq: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.float32))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.float32))
    kp: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.float32))
    kd: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.float32))
    reserve: np.ndarray = field(default_factory=lambda: np.zeros(NUM_MOTORS, np.uint32))

    def is_finite(self) -> bool:
        return all(bool(np.isfinite(getattr(self, f)).all()) for f in ("q", "dq", "tau", "kp", "kd"))


@dataclass
class LowCmdData:
    """A LowCmd as plain arrays, mirroring unitree_hg/LowCmd field for field."""

    mode_pr: int = 0
    mode_machine: int = 0
    motors: MotorCommands = field(default_factory=MotorCommands)
    reserve: tuple[int, int, int, int] = (0, 0, 0, 0)
    crc: int = 0


# The same 1004 bytes as one numpy record, so packing (500 times a second with the CRC) is a few
# array copies instead of 35 struct.pack calls in Python.
_MOTOR_DTYPE = np.dtype({"names": ["mode", "q", "dq", "tau", "kp", "kd", "reserve"],
                         "formats": ["u1", "<f4", "<f4", "<f4", "<f4", "<f4", "<u4"],
                         "offsets": [0, 4, 8, 12, 16, 20, 24], "itemsize": _MOTOR.size})
_LOWCMD_DTYPE = np.dtype({"names": ["mode_pr", "mode_machine", "motors", "trailer"],
                          "formats": ["u1", "u1", (_MOTOR_DTYPE, NUM_MOTORS), ("<u4", 5)],
                          "offsets": [0, 1, _HEADER.size, _HEADER.size + NUM_MOTORS * _MOTOR.size],
                          "itemsize": LOWCMD_SIZE})


def pack_lowcmd(cmd: LowCmdData) -> bytes:
    """Pack to the robot's 1004-byte layout with the crc field as stored."""
    m = cmd.motors
    for name in ("mode", "q", "dq", "tau", "kp", "kd", "reserve"):
        if len(getattr(m, name)) != NUM_MOTORS:
            raise ValueError(f"LowCmd motor field {name!r} has {len(getattr(m, name))} entries, expected {NUM_MOTORS}")
    rec = np.zeros((), _LOWCMD_DTYPE)
    rec["mode_pr"], rec["mode_machine"] = cmd.mode_pr, cmd.mode_machine
    motors = rec["motors"]
    for name in ("mode", "q", "dq", "tau", "kp", "kd", "reserve"):
        motors[name] = getattr(m, name)
    rec["trailer"] = (*cmd.reserve, cmd.crc)
    return rec.tobytes()


def unpack_lowcmd(data: bytes) -> LowCmdData:
    if len(data) != LOWCMD_SIZE:
        raise ValueError(f"packed LowCmd must be {LOWCMD_SIZE} bytes, got {len(data)}")
    mode_pr, mode_machine = _HEADER.unpack_from(data, 0)
    rows = list(_MOTOR.iter_unpack(data[_HEADER.size:_HEADER.size + NUM_MOTORS * _MOTOR.size]))
    cols = list(zip(*rows))
    motors = MotorCommands(
        mode=np.array(cols[0], np.uint8), q=np.array(cols[1], np.float32), dq=np.array(cols[2], np.float32),
        tau=np.array(cols[3], np.float32), kp=np.array(cols[4], np.float32), kd=np.array(cols[5], np.float32),
        reserve=np.array(cols[6], np.uint32))
    *reserve, crc = _TRAILER.unpack_from(data, LOWCMD_SIZE - _TRAILER.size)
    return LowCmdData(mode_pr, mode_machine, motors, tuple(reserve), crc)


def lowcmd_crc(cmd: LowCmdData) -> int:
    """The CRC the robot expects for `cmd` (its own crc field is ignored)."""
    return crc32_words(pack_lowcmd(cmd)[:-4])


def with_crc(cmd: LowCmdData) -> LowCmdData:
    cmd.crc = lowcmd_crc(cmd)
    return cmd


def crc_ok(cmd: LowCmdData) -> bool:
    return cmd.crc == lowcmd_crc(cmd)


def dex3_mode_byte(motor_id: int, status: int = 0x01, timeout: bool = False) -> int:
    """Dex3-1 MotorCmd.mode: id in bits 0-3, status in bits 4-6, timeout in bit 7."""
    if not 0 <= motor_id <= 0x0F:
        raise ValueError(f"Dex3 motor id must be 0..15, got {motor_id}")
    return (motor_id & 0x0F) | ((status & 0x07) << 4) | (int(bool(timeout)) << 7)
