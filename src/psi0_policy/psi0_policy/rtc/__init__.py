"""Real-time chunking runtime (ROS-free): RtcConfig, RtcRuntime, ControlLoop, clocks."""
from psi0_policy.rtc.clock import FakeClock, MonotonicClock
from psi0_policy.rtc.config import MODES, RtcConfig
from psi0_policy.rtc.control import ControlLoop
from psi0_policy.rtc.runtime import SEAM_DIMS, Chunk, Request, RtcRuntime, Stats, TickOutput, delay_steps_for

__all__ = ["FakeClock", "MonotonicClock", "MODES", "RtcConfig", "ControlLoop", "SEAM_DIMS", "Chunk", "Request",
           "RtcRuntime", "Stats", "TickOutput", "delay_steps_for"]
