"""Conversions between unitree_hg messages and psi0_common's plain arrays."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
from rclpy.serialization import deserialize_message
from unitree_hg.msg import LowCmd, LowState

from psi0_common.cdr import FixedLayout
from psi0_common.unitree_codec import NUM_MOTORS, LowCmdData, MotorCommands

_FIELDS = ("mode", "q", "dq", "tau", "kp", "kd", "reserve")


def lowcmd_to_data(msg: LowCmd) -> LowCmdData:
    cols = {f: [getattr(m, f) for m in msg.motor_cmd] for f in _FIELDS}
    motors = MotorCommands(
        mode=np.array(cols["mode"], np.uint8), q=np.array(cols["q"], np.float32),
        dq=np.array(cols["dq"], np.float32), tau=np.array(cols["tau"], np.float32),
        kp=np.array(cols["kp"], np.float32), kd=np.array(cols["kd"], np.float32),
        reserve=np.array(cols["reserve"], np.uint32))
    return LowCmdData(msg.mode_pr, msg.mode_machine, motors, tuple(int(r) for r in msg.reserve), msg.crc)


def data_to_lowcmd(data: LowCmdData) -> LowCmd:
    msg = LowCmd()
    msg.mode_pr = int(data.mode_pr)
    msg.mode_machine = int(data.mode_machine)
    m = data.motors
    for i in range(NUM_MOTORS):
        c = msg.motor_cmd[i]
        c.mode = int(m.mode[i])
        c.q, c.dq, c.tau = float(m.q[i]), float(m.dq[i]), float(m.tau[i])
        c.kp, c.kd = float(m.kp[i]), float(m.kd[i])
        c.reserve = int(m.reserve[i])
    msg.reserve = [int(r) for r in data.reserve]
    msg.crc = int(data.crc)
    return msg


def message_layout(msg_class) -> FixedLayout:
    """The CDR byte layout of a fixed-size message class (nested types resolved by import)."""
    def resolve(type_name: str):
        package, name = type_name.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), name).get_fields_and_field_types()

    return FixedLayout(msg_class.get_fields_and_field_types(), resolve)


LOWCMD_WIRE = message_layout(LowCmd)
LOWSTATE_WIRE = message_layout(LowState)


def lowcmd_to_cdr(data: LowCmdData) -> bytes:
    """The serialized LowCmd, byte for byte what `serialize_message(data_to_lowcmd(data))` gives, without
    building 35 Python message objects (a publisher sends bytes as they are)."""
    buf = LOWCMD_WIRE.new_buffer()
    put = LOWCMD_WIRE.write
    put(buf, "mode_pr", data.mode_pr)
    put(buf, "mode_machine", data.mode_machine)
    for f in _FIELDS:
        put(buf, f"motor_cmd.{f}", getattr(data.motors, f))
    put(buf, "reserve", data.reserve)
    put(buf, "crc", data.crc)
    return buf.tobytes()


@dataclass(frozen=True)
class LowStateFields:
    """What the bridge reads of a LowState, as float64 arrays (all 35 motors)."""

    mode_machine: int
    q: np.ndarray
    dq: np.ndarray
    quaternion: np.ndarray
    gyroscope: np.ndarray
    rpy: np.ndarray


def lowstate_fields(raw: bytes) -> LowStateFields:
    """Fields of a serialized LowState; other encodings (big-endian CDR) go through rclpy."""
    try:
        LOWSTATE_WIRE.check(raw)
    except ValueError:
        msg = deserialize_message(raw, LowState)
        return LowStateFields(int(msg.mode_machine), np.array([m.q for m in msg.motor_state]),
                              np.array([m.dq for m in msg.motor_state]),
                              np.asarray(msg.imu_state.quaternion, float), np.asarray(msg.imu_state.gyroscope, float),
                              np.asarray(msg.imu_state.rpy, float))
    read = LOWSTATE_WIRE.read
    return LowStateFields(int(read(raw, "mode_machine")[0]), read(raw, "motor_state.q").astype(float),
                          read(raw, "motor_state.dq").astype(float),
                          read(raw, "imu_state.quaternion").astype(float),
                          read(raw, "imu_state.gyroscope").astype(float), read(raw, "imu_state.rpy").astype(float))


class LowStateWriter:
    """Serialized LowStates from arrays, into one reused buffer, for a 500 Hz publisher (measured 33 us a
    message against 75 us for setting 116 motor fields on a LowState and serializing it)."""

    def __init__(self, mode_machine: int, motor_mode):
        self._buf = LOWSTATE_WIRE.new_buffer()
        LOWSTATE_WIRE.write(self._buf, "mode_machine", mode_machine)
        LOWSTATE_WIRE.write(self._buf, "motor_state.mode", motor_mode)
        self._motors = np.zeros(NUM_MOTORS)

    def serialize(self, tick: int, quaternion, gyroscope, accelerometer, rpy, q, dq, ddq, tau_est) -> bytes:
        """Motor arrays may be shorter than 35 (the body's 29): the rest stay 0."""
        put, buf, motors = LOWSTATE_WIRE.write, self._buf, self._motors
        put(buf, "tick", tick)
        put(buf, "imu_state.quaternion", quaternion)
        put(buf, "imu_state.gyroscope", gyroscope)
        put(buf, "imu_state.accelerometer", accelerometer)
        put(buf, "imu_state.rpy", rpy)
        for field, values in (("q", q), ("dq", dq), ("ddq", ddq), ("tau_est", tau_est)):
            motors[:len(values)] = values
            put(buf, f"motor_state.{field}", motors)
        return buf.tobytes()
