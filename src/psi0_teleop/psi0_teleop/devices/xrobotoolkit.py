"""PICO trackers through the XRoboToolkit PC service (its `xrobotoolkit_sdk` Python binding).

The binding is not on PyPI: build it from XR-Robotics' XRoboToolkit-PC-Service-
Pybind and install it into this venv. Poses come as [x, y, z, qx, qy, qz, qw] in
the PICO frame (X right, Y up, Z back; origin at the headset at start-up).
The five motion trackers (2 wrists, waist, 2 ankles) arrive through body mode
as a 24-joint SMPL skeleton: 0 pelvis, 7/8 ankles, 15 head, 20/21 wrists.
The headset itself is read with get_headset_pose().

Buttons (PICO controllers, when held): A toggles engage; B or Y is the e-stop.
Gloves (MANUS) do not come through this service: they arrive from their own
ROS 2 driver on topics.GLOVES, so this device yields tracker samples only.
"""
from __future__ import annotations

import numpy as np

from psi0_teleop.devices import DeviceError, OperatorDevice, TrackerSample, TRACKER_NAMES
from psi0_teleop.geometry import Pose

SMPL_INDEX = {"waist": 0, "left_foot": 7, "right_foot": 8, "left_wrist": 20, "right_wrist": 21}
NUM_SMPL = 24

INSTALL_HINT = ("the XRoboToolkit Python binding `xrobotoolkit_sdk` is not importable. It is not on PyPI: build "
                "XRoboToolkit-PC-Service-Pybind against the XRoboToolkit PC service and install it into this venv "
                "(.venv), start the PC service, and enable body tracking on the headset. Use device:=synthetic or "
                "device:=replay without the hardware.")


def import_sdk():
    try:
        import xrobotoolkit_sdk as xrt  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DeviceError(INSTALL_HINT) from exc
    return xrt


def _pose(v) -> Pose | None:
    a = np.asarray(v, float).reshape(-1)
    if a.shape != (7,) or not np.all(np.isfinite(a)) or np.linalg.norm(a[3:]) < 1e-6:
        return None
    return Pose.from_xyzquat(a[:3], a[3:])


def sample_from_sdk(headset, body, buttons: dict[str, bool], stamp: float) -> TrackerSample:
    """Build a sample from raw SDK values (separated out so it is testable without the SDK)."""
    poses: dict[str, Pose | None] = {n: None for n in TRACKER_NAMES}
    poses["head"] = _pose(headset) if headset is not None else None
    if body is not None:
        arr = np.asarray(body, float)
        if arr.shape != (NUM_SMPL, 7):
            raise DeviceError(f"XRoboToolkit body pose has shape {arr.shape}, expected ({NUM_SMPL}, 7)")
        for name, i in SMPL_INDEX.items():
            poses[name] = _pose(arr[i])
    return TrackerSample(stamp, poses, estop=bool(buttons.get("B") or buttons.get("Y")),
                         engage=bool(buttons.get("A")))


class XRoboToolkitDevice(OperatorDevice):
    name = "xrobotoolkit"

    def __init__(self):
        self.xrt = import_sdk()
        try:
            self.xrt.init()
        except Exception as exc:  # the binding raises plain RuntimeErrors
            raise DeviceError(f"XRoboToolkit init failed (is the PC service running?): {exc}") from exc
        self._last_ns: int | None = None
        self._clock_offset: float | None = None

    def poll(self, now: float):
        xrt = self.xrt
        if not xrt.is_body_data_available():
            return [], []
        ns = int(xrt.get_body_timestamp_ns()) if hasattr(xrt, "get_body_timestamp_ns") else int(xrt.get_time_stamp_ns())
        if ns == self._last_ns:
            return [], []
        self._last_ns = ns
        if self._clock_offset is None:  # map the device clock onto ours once; later drift shows as latency
            self._clock_offset = now - ns * 1e-9
        stamp = min(now, ns * 1e-9 + self._clock_offset)
        buttons = {b: bool(getattr(xrt, f"get_{b}_button")()) for b in ("A", "B", "X", "Y")}
        sample = sample_from_sdk(xrt.get_headset_pose(), xrt.get_body_joints_pose(), buttons, stamp)
        return [sample], []

    def close(self) -> None:
        try:
            self.xrt.close()
        except Exception:
            pass
