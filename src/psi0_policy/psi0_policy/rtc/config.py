"""RTC parameters (Psi0's deployed values as defaults)."""
from __future__ import annotations

from dataclasses import dataclass

from psi0_common.config import ConfigError

MODES = ("rtc", "naive", "sync")


@dataclass(frozen=True)
class RtcConfig:
    mode: str = "rtc"             # rtc | naive (switch on arrival, no prefix) | sync (stop and think)
    horizon: int = 30             # H: actions per chunk
    s_min: int = 15               # minimum execution horizon: start the next inference once t >= s_min
    delay_buffer: int = 6         # keep the last b measured delays; d = max of them
    initial_delay: int = 6        # d before any delay was measured
    max_delay: int = 8            # trained maximum: prefixes have at most max_delay - 1 actions
    control_hz: float = 30.0      # control clock

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"RTC mode {self.mode!r} is not one of {MODES}")
        if not 1 <= self.s_min <= self.horizon:
            raise ConfigError(f"s_min {self.s_min} must be in 1..horizon ({self.horizon})")
        if self.delay_buffer < 1 or self.max_delay < 1 or self.initial_delay < 0:
            raise ConfigError("delay_buffer and max_delay must be >= 1, initial_delay >= 0")
        if self.control_hz <= 0:
            raise ConfigError("control_hz must be > 0")

    @property
    def dt(self) -> float:
        return 1.0 / self.control_hz
