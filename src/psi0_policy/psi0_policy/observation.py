"""The policy's observation from robot messages, ROS-free: 32-D state assembly and freshness.

State (Psi0 layout, psi0_common.action_layout):
  0-13   Dex3 hand joints: left motor_state[0..6].q, right motor_state[0..6].q
  14-27  arm joints: /lowstate motors 15-28 (left then right arm, 7 each)
  28-30  torso roll, pitch, yaw = waist joints 13 (roll), 14 (pitch), 12 (yaw): the torso orientation relative
         to the pelvis, which is what the action's torso rpy commands
  31     base height: the last commanded height (AMO tracks it; the G1 has no height sensor), nominal
         0.75 m before the first command, or always nominal (`base_height_source`)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from psi0_common import g1
from psi0_common.action_layout import STATE_DIM
from psi0_policy.model.policy import Observation


def build_state(body_q, left_hand_q, right_hand_q, base_height: float) -> np.ndarray:
    """body_q: >= 29 motor positions in Unitree order; hands: 7 each. Raises ValueError on bad input."""
    body = np.asarray(body_q, np.float64)
    lh, rh = np.asarray(left_hand_q, np.float64), np.asarray(right_hand_q, np.float64)
    if body.shape[0] < g1.NUM_BODY or lh.shape != (g1.NUM_HAND,) or rh.shape != (g1.NUM_HAND,):
        raise ValueError(f"need >= {g1.NUM_BODY} body and 7 + 7 hand positions, got {body.shape[0]}, "
                         f"{lh.shape[0]}, {rh.shape[0]}")
    s = np.empty(STATE_DIM)
    s[0:7], s[7:14] = lh, rh
    s[14:21], s[21:28] = body[g1.LEFT_ARM], body[g1.RIGHT_ARM]
    s[28:31] = body[g1.WAIST_ROLL], body[g1.WAIST_PITCH], body[g1.WAIST_YAW]
    s[31] = base_height
    if not np.isfinite(s).all():
        raise ValueError(f"state has non-finite values at {np.flatnonzero(~np.isfinite(s)).tolist()}")
    return s


@dataclass
class _Stamped:
    value: object = None
    t: float = -1.0


class ObservationCache:
    """Latest image, body and hand states and task, with receive times; thread-safe.

    `get(now)` returns (Observation, "") when everything is fresh, else (None, reason)."""

    def __init__(self, max_image_age: float, max_state_age: float, task: str = "",
                 base_height_source: str = "command"):
        self.max_image_age, self.max_state_age = max_image_age, max_state_age
        self.base_height_source = base_height_source
        self._lock = threading.Lock()
        self._image, self._body = _Stamped(), _Stamped()
        self._hands = {"left": _Stamped(), "right": _Stamped()}
        self._task = task
        self._height = g1.NOMINAL_PELVIS_HEIGHT
        self.image_error = ""

    def set_image(self, image: np.ndarray, t: float) -> None:
        with self._lock:
            self._image = _Stamped(image, t)

    def set_body(self, q, t: float) -> None:
        with self._lock:
            self._body = _Stamped(np.asarray(q, np.float64), t)

    def set_hand(self, side: str, q, t: float) -> None:
        with self._lock:
            self._hands[side] = _Stamped(np.asarray(q, np.float64), t)

    def set_task(self, task: str) -> None:
        with self._lock:
            self._task = task

    @property
    def task(self) -> str:
        with self._lock:
            return self._task

    def set_commanded_height(self, h: float) -> None:
        if self.base_height_source == "command" and np.isfinite(h):
            with self._lock:
                self._height = float(h)

    def get(self, now: float) -> tuple[Observation | None, str]:
        with self._lock:
            img, body, hands, task = self._image, self._body, dict(self._hands), self._task
            height = self._height
        if not task.strip():
            return None, "no task set (task topic, set_task service or `task` parameter)"
        if img.value is None:
            return None, "no image received" + (f" ({self.image_error})" if self.image_error else "")
        if now - img.t > self.max_image_age:
            return None, f"image is {now - img.t:.2f} s old (max {self.max_image_age} s)"
        if body.value is None:
            return None, "no /lowstate received"
        if now - body.t > self.max_state_age:
            return None, f"lowstate is {now - body.t:.2f} s old (max {self.max_state_age} s)"
        for side, h in hands.items():
            if h.value is None:
                return None, f"no {side} Dex3 hand state received"
            if now - h.t > self.max_state_age:
                return None, f"{side} hand state is {now - h.t:.2f} s old (max {self.max_state_age} s)"
        try:
            state = build_state(body.value, hands["left"].value, hands["right"].value, height)
        except ValueError as exc:
            return None, f"bad robot state: {exc}"
        return Observation(img.value, state, task, img.t), ""
