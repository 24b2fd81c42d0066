"""Conversions between unitree_hg messages and psi0_common's plain arrays."""
from __future__ import annotations

import numpy as np
from unitree_hg.msg import LowCmd

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
