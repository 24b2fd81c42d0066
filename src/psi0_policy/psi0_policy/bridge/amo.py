"""AMO lower-body policy: its observation, its TorchScript files, its backend.

Facts (AMO paper, "Adaptive Motion Optimization for Hyper-Dexterous Humanoid
Whole-Body Control", and its public sim-to-sim / deployment code):
- 50 Hz; 23 observed joints = body motors 0-18 and 22-25 (legs, waist, both
  shoulders + elbows; no wrists); 15 actions (12 legs + 3 waist),
  q = default + 0.25 * clip(action, -40, 40).
- Proprio frame (93): pelvis angular velocity x0.25 (3), roll and pitch (2),
  sin/cos(yaw - target yaw) (2, zero angle while standing), joint offsets
  from AMO's default pose (23), joint velocities x0.05 (23, ankles and waist
  roll/pitch zeroed), last action (23: the 15 raw actions then the 8 arm
  offsets / 0.25), gait phase sin(2 pi phase) of both feet (2), adapter
  output (15).
- Command frame (17): 8 arm joint positions, vx, vy, 0, torso yaw, pitch,
  roll, pelvis height x3. Privileged (3): zeros.
- Policy input: [proprio, command, privileged, 10 previous proprio frames]
  (1043) and the last 25 proprio frames including this one (2325); output 15.
- Adapter: normalized [height, torso yaw, pitch, roll, 8 arm joints] (12)
  -> 15, de-normalized with adapter_norm_stats.pt
  {input_mean, input_std (12), output_mean, output_std (15)}.
- Gait phase advances 1.3 Hz; standing (|vx|, |vy|, |yaw rate| < 0.1) locks
  it at (0.25, 0.25), walking restarts it at (0.25, 0.75).
- There is no yaw-rate input: the bridge integrates the yaw rate into the
  target yaw; yaw is measured from the heading at start-up.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from psi0_common import action_layout as al
from psi0_common.config import ConfigError

from psi0_policy.bridge.robot import RobotState

OBS_JOINTS = np.r_[0:19, 22:26]          # 23 body motors AMO observes
ARM_OBS = slice(15, 23)                  # the 8 arm joints inside those 23
N_JOINTS = 23
N_ACTIONS = 15
N_PROPRIO = 3 + 2 + 2 + 3 * N_JOINTS + 2 + 15  # 93
N_COMMAND = 8 + 3 + 3 + 3                      # 17
N_PRIV = 3
HISTORY = 10
EXTRA_HISTORY = 25
OBS_DIM = N_PROPRIO + N_COMMAND + N_PRIV + HISTORY * N_PROPRIO  # 1043
EXTRA_DIM = EXTRA_HISTORY * N_PROPRIO                            # 2325
ADAPTER_IN, ADAPTER_OUT = 12, 15
ACTION_SCALE = 0.25
ACTION_CLIP = 40.0
ANG_VEL_SCALE, DOF_VEL_SCALE = 0.25, 0.05
ZERO_VEL = [4, 5, 10, 11, 13, 14]      # ankles and waist roll/pitch: velocity hidden from the policy
GAIT_FREQ = 1.3
DT = 0.02
STAND_THRESHOLD = 0.1
NOMINAL_HEIGHT = 0.75
DEFAULT_POS = np.array([
    -0.1, 0.0, 0.0, 0.3, -0.2, 0.0,
    -0.1, 0.0, 0.0, 0.3, -0.2, 0.0,
    0.0, 0.0, 0.0,
    0.5, 0.0, 0.2, 0.3,
    0.5, 0.0, -0.2, 0.3,
])
NORM_KEYS = {"input_mean": ADAPTER_IN, "input_std": ADAPTER_IN, "output_mean": ADAPTER_OUT,
             "output_std": ADAPTER_OUT}

POLICY_SHAPES = f"input obs (1, {OBS_DIM}) and extra history (1, {EXTRA_DIM}) -> output (1, {N_ACTIONS})"
ADAPTER_SHAPES = f"input (1, {ADAPTER_IN}) -> output (1, {ADAPTER_OUT})"
NORM_SHAPES = ", ".join(f"{k} ({n},)" for k, n in NORM_KEYS.items())


def _short(exc: Exception) -> str:
    """The last line of an exception (TorchScript errors carry a long trace before it)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


@dataclass(frozen=True)
class AmoCommand:
    vx: float
    vy: float
    yaw_rate: float
    target_yaw: float
    height: float
    torso_roll: float
    torso_pitch: float
    torso_yaw: float

    @property
    def standing(self) -> bool:
        return max(abs(self.vx), abs(self.vy), abs(self.yaw_rate)) < STAND_THRESHOLD


class AmoObservation:
    """AMO's observation with its histories, gait phase and target yaw (no torch here)."""

    def __init__(self, yaw_mode: str = "rate"):
        self.yaw_mode = yaw_mode
        self.reset(0.0)

    def reset(self, yaw: float) -> None:
        self.history = deque([np.zeros(N_PROPRIO)] * HISTORY, maxlen=HISTORY)
        self.extra_history = deque([np.zeros(N_PROPRIO)] * EXTRA_HISTORY, maxlen=EXTRA_HISTORY)
        self.last_action = np.zeros(N_JOINTS)
        self.gait = np.array([0.25, 0.25])
        self.yaw_offset = yaw
        self.target_yaw = 0.0

    def command(self, action: np.ndarray) -> AmoCommand:
        """Turn the 36-D action into AMO's command, integrating the yaw rate."""
        rate = float(action[al.YAW_RATE])
        if self.yaw_mode == "rate":
            self.target_yaw = wrap(self.target_yaw + rate * DT)
        else:
            self.target_yaw = wrap(float(action[al.TARGET_YAW]))
        roll, pitch, yaw = (float(v) for v in action[al.TORSO_RPY])
        return AmoCommand(float(action[al.BASE_VX]), float(action[al.BASE_VY]), rate, self.target_yaw,
                          float(action[al.BASE_HEIGHT]), roll, pitch, yaw)

    @staticmethod
    def adapter_input(cmd: AmoCommand, state: RobotState) -> np.ndarray:
        arms = state.q[OBS_JOINTS][ARM_OBS]
        return np.concatenate([[cmd.height, cmd.torso_yaw, cmd.torso_pitch, cmd.torso_roll], arms])

    def build(self, state: RobotState, cmd: AmoCommand, adapter_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(obs (1043,), extra history (2325,)); appends this frame to the histories."""
        rpy = state.euler()
        dyaw = 0.0 if cmd.standing else wrap(rpy[2] - self.yaw_offset - cmd.target_yaw)
        q = state.q[OBS_JOINTS]
        dq = state.dq[OBS_JOINTS].astype(float).copy()
        dq[ZERO_VEL] = 0.0
        proprio = np.concatenate([
            state.gyro * ANG_VEL_SCALE, rpy[:2], [math.sin(dyaw), math.cos(dyaw)], q - DEFAULT_POS,
            dq * DOF_VEL_SCALE, self.last_action, np.sin(2 * math.pi * self.gait), adapter_out])
        command = np.zeros(N_COMMAND)
        command[:8] = q[ARM_OBS]
        command[8], command[9] = cmd.vx, cmd.vy
        command[11], command[12], command[13] = cmd.torso_yaw, cmd.torso_pitch, cmd.torso_roll
        command[14:17] = cmd.height
        obs = np.concatenate([proprio, command, np.zeros(N_PRIV), np.concatenate(list(self.history))])
        self.history.append(proprio)
        self.extra_history.append(proprio)
        return obs, np.concatenate(list(self.extra_history))

    def after_action(self, raw: np.ndarray, state: RobotState, standing: bool) -> None:
        q = state.q[OBS_JOINTS]
        self.last_action = np.concatenate([raw, (q[ARM_OBS] - DEFAULT_POS[ARM_OBS]) / ACTION_SCALE])
        self.gait = np.remainder(self.gait + DT * GAIT_FREQ, 1.0)
        near = np.abs(self.gait - 0.25) < 0.05
        if standing and near.any():
            self.gait = np.array([0.25, 0.25])
        if not standing and near.all():
            self.gait = np.array([0.25, 0.75])


class AmoModels:
    """AMO's policy, adapter and adapter statistics, loaded and shape-checked."""

    def __init__(self, policy_path: str, adapter_path: str, norm_stats_path: str, device: str = "cpu"):
        import torch

        self.torch = torch
        self.device = device
        self.policy = self._load_jit(policy_path, "AMO policy", POLICY_SHAPES)
        self.adapter = self._load_jit(adapter_path, "AMO adapter", ADAPTER_SHAPES)
        self.stats = self._load_stats(norm_stats_path)
        self._check_shapes(policy_path, adapter_path)

    def _load_jit(self, path: str, what: str, shapes: str):
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{what} file {path!r} not found (expected TorchScript with {shapes})")
        try:
            module = self.torch.jit.load(str(p), map_location=self.device)
        except Exception as exc:  # torch raises RuntimeError / ValueError for non-TorchScript files
            raise ConfigError(f"{what} file {path!r} is not a TorchScript module ({_short(exc)}); "
                              f"expected {shapes}") from exc
        module.eval()
        return module

    def _load_stats(self, path: str) -> dict[str, np.ndarray]:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"AMO adapter normalization file {path!r} not found (expected a dict with "
                              f"{NORM_SHAPES})")
        torch = self.torch
        try:
            raw = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception:
            # AMO's file stores numpy arrays: allow exactly numpy's array reconstruction, nothing else.
            try:
                allowed = [np.ndarray, np.dtype, np._core.multiarray._reconstruct, type(np.dtype(np.float32)),
                           type(np.dtype(np.float64))]
                with torch.serialization.safe_globals(allowed):
                    raw = torch.load(str(p), map_location="cpu", weights_only=True)
            except Exception as exc:
                raise ConfigError(f"AMO adapter normalization file {path!r} cannot be read ({_short(exc)}); expected "
                                  f"a dict with {NORM_SHAPES}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"AMO adapter normalization file {path!r} holds {type(raw).__name__}, expected a "
                              f"dict with {NORM_SHAPES}")
        stats = {}
        for key, n in NORM_KEYS.items():
            if key not in raw:
                raise ConfigError(f"AMO adapter normalization file {path!r} has no {key!r}; expected {NORM_SHAPES}")
            value = raw[key].cpu().numpy() if hasattr(raw[key], "cpu") else np.asarray(raw[key])
            value = np.asarray(value, dtype=np.float64).reshape(-1) if np.size(value) == n else np.asarray(value)
            if value.shape != (n,) or not np.isfinite(value).all():
                raise ConfigError(f"AMO adapter normalization file {path!r}: {key} has shape "
                                  f"{np.shape(raw[key])}, expected ({n},) of finite values")
            stats[key] = value
        return stats

    def _check_shapes(self, policy_path: str, adapter_path: str) -> None:
        try:
            out = self.adapter_forward(np.zeros(ADAPTER_IN))
        except Exception as exc:
            raise ConfigError(f"AMO adapter {adapter_path!r} does not take the expected input ({_short(exc)}); "
                              f"expected {ADAPTER_SHAPES}") from exc
        if out.shape != (ADAPTER_OUT,):
            raise ConfigError(f"AMO adapter {adapter_path!r} returned shape {out.shape}; expected {ADAPTER_SHAPES}")
        try:
            act = self.policy_forward(np.zeros(OBS_DIM), np.zeros(EXTRA_DIM))
        except Exception as exc:
            raise ConfigError(f"AMO policy {policy_path!r} does not take the expected inputs ({_short(exc)}); "
                              f"expected {POLICY_SHAPES}") from exc
        if act.shape != (N_ACTIONS,):
            raise ConfigError(f"AMO policy {policy_path!r} returned shape {act.shape}; expected {POLICY_SHAPES}")

    def _tensor(self, x: np.ndarray):
        return self.torch.as_tensor(np.asarray(x, np.float32), device=self.device).view(1, -1)

    def adapter_forward(self, x: np.ndarray) -> np.ndarray:
        s = self.stats
        z = (x - s["input_mean"]) / (s["input_std"] + 1e-8)
        with self.torch.inference_mode():
            y = self.adapter(self._tensor(z))
        y = y.detach().cpu().numpy().astype(float)
        if y.size != ADAPTER_OUT:
            return y.reshape(-1)
        return y.reshape(-1) * s["output_std"] + s["output_mean"]

    def policy_forward(self, obs: np.ndarray, extra: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            y = self.policy(self._tensor(obs), self._tensor(extra))
        return y.detach().cpu().numpy().astype(float).reshape(-1)


class AmoBackend:
    """Runs AMO every 1/50 s and holds its 15 joint targets between runs."""

    name = "amo"

    def __init__(self, models: AmoModels, yaw_mode: str = "rate", decimation: int = 1):
        self.models = models
        self.obs = AmoObservation(yaw_mode)
        self.decimation = decimation  # control ticks per AMO step (control rate / 50 Hz)
        self._targets: np.ndarray | None = None
        self._ticks = 0
        self.inference_time = 0.0

    @classmethod
    def from_config(cls, cfg) -> "AmoBackend":
        import torch

        torch.set_num_threads(1)  # one core for the 50 Hz loop; more threads only add jitter here
        models = AmoModels(cfg.amo_policy_path, cfg.amo_adapter_path, cfg.amo_norm_stats_path, cfg.amo_device)
        return cls(models, cfg.yaw_mode, int(round(cfg.control_rate_hz / (1.0 / DT))))

    def reset(self, state: RobotState) -> None:
        self.obs.reset(float(state.euler()[2]))
        self._targets = None
        self._ticks = 0

    def lower_body(self, state: RobotState, action: np.ndarray, now: float) -> np.ndarray:
        """Called once per control tick; AMO steps on every `decimation`-th tick (50 Hz)."""
        if self._targets is None or self._ticks % self.decimation == 0:
            self._targets = self._run(state, action)
        self._ticks += 1
        return self._targets.copy()

    def _run(self, state: RobotState, action: np.ndarray) -> np.ndarray:
        import time

        t0 = time.perf_counter()
        cmd = self.obs.command(action)
        adapter_out = self.models.adapter_forward(AmoObservation.adapter_input(cmd, state))
        obs, extra = self.obs.build(state, cmd, adapter_out)
        raw = self.models.policy_forward(obs, extra)
        if raw.shape != (N_ACTIONS,) or not np.isfinite(raw).all():
            raise FloatingPointError(f"AMO policy returned {raw.shape} with non-finite values")
        raw = np.clip(raw, -ACTION_CLIP, ACTION_CLIP)
        self.obs.after_action(raw, state, cmd.standing)
        self.inference_time = time.perf_counter() - t0
        return DEFAULT_POS[:N_ACTIONS] + ACTION_SCALE * raw

    def base_command(self, action: np.ndarray, q_cmd: np.ndarray):
        return None
