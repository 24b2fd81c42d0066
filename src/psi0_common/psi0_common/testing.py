"""Small helpers shared by the packages' tests (ROS-free)."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(cond: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll `cond` until it is truthy or `timeout` seconds pass; True if it became truthy."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())
