"""The `amo` backend through its real loading path, with tiny TorchScript models of AMO's exact shapes."""
import math

import numpy as np
import pytest
import torch
from bridge_fakes import FakeRobot, action_with, run

from psi0_common import action_layout as al
from psi0_common.config import ConfigError

from psi0_policy.bridge import amo
from psi0_policy.bridge.config import BridgeConfig
from psi0_policy.bridge.core import Bridge, State
from psi0_policy.bridge.robot import RobotState


class TinyPolicy(torch.nn.Module):
    def __init__(self, n_obs=amo.OBS_DIM, n_extra=amo.EXTRA_DIM, n_out=amo.N_ACTIONS, nan=False):
        super().__init__()
        self.obs = torch.nn.Linear(n_obs, n_out)
        self.extra = torch.nn.Linear(n_extra, n_out)
        self.nan = nan
        with torch.no_grad():
            for lin in (self.obs, self.extra):
                lin.weight.normal_(0.0, 0.01)
                lin.bias.normal_(0.0, 0.1)

    def forward(self, obs, extra):
        y = self.obs(obs) + self.extra(extra)
        if self.nan:
            y = y * float("nan")
        return y


class TinyAdapter(torch.nn.Module):
    def __init__(self, n_in=amo.ADAPTER_IN, n_out=amo.ADAPTER_OUT):
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.tanh(self.lin(x))


def write_models(tmp_path, policy=None, adapter=None, stats=None):
    torch.manual_seed(0)
    policy = policy or TinyPolicy()
    adapter = adapter or TinyAdapter()
    names = (("amo_policy_path", "amo_jit.pt"), ("amo_adapter_path", "adapter_jit.pt"),
             ("amo_norm_stats_path", "adapter_norm_stats.pt"))
    paths = {k: str(tmp_path / n) for k, n in names}
    torch.jit.save(torch.jit.script(policy), paths["amo_policy_path"])
    torch.jit.save(torch.jit.script(adapter), paths["amo_adapter_path"])
    rng = np.random.default_rng(1)
    if stats is None:  # numpy arrays, as AMO's own file stores them
        stats = {"input_mean": rng.normal(size=12).astype(np.float32), "input_std": np.full(12, 0.5, np.float32),
                 "output_mean": rng.normal(size=15).astype(np.float32) * 0.1,
                 "output_std": np.full(15, 0.2, np.float32)}
    torch.save(stats, paths["amo_norm_stats_path"])
    return paths, policy, adapter, stats


def amo_config(paths, **kw):
    kw.setdefault("startup_settle", 0.0)
    return BridgeConfig(backend="amo", **paths, **kw)


def numpy_reference(policy, adapter, stats):
    """AMO's two networks recomputed in numpy from the tiny models' weights."""
    W = {n: p.detach().numpy().astype(float) for n, p in policy.named_parameters()}
    A = {n: p.detach().numpy().astype(float) for n, p in adapter.named_parameters()}

    def adapter_fn(x):
        z = (x - stats["input_mean"]) / (stats["input_std"] + 1e-8)
        return np.tanh(A["lin.weight"] @ z + A["lin.bias"]) * stats["output_std"] + stats["output_mean"]

    def policy_fn(obs, extra):
        return W["obs.weight"] @ obs + W["obs.bias"] + W["extra.weight"] @ extra + W["extra.bias"]

    return adapter_fn, policy_fn


def test_amo_backend_matches_a_numpy_recomputation_of_the_observation_and_networks(tmp_path):
    paths, policy, adapter, stats = write_models(tmp_path)
    b = Bridge(amo_config(paths))
    adapter_fn, policy_fn = numpy_reference(policy, adapter, stats)
    shadow = amo.AmoObservation("rate")
    robot = FakeRobot()
    robot.gyro = np.array([0.1, -0.2, 0.05])
    a = action_with(base_height=0.7, torso_rpy=[0.1, 0.2, 0.3], base_velocity=[0.3, 0.0], yaw=[0.5, 0.0])
    st0 = robot.state(0.0)
    shadow.reset(float(st0.euler()[2]))
    for i in range(150):
        t = i * 0.02
        st = robot.state(t)
        b.on_lowstate(st)
        b.on_action(a, 1, t)
        out = b.tick(t)
        robot.apply(t, out, 0.02)
        # What AMO must have seen this tick: base velocities only once ACTIVE.
        action = b.action if b.state == State.ACTIVE else np.r_[b.action[:32], 0, 0, 0, b.action[35]]
        cmd = shadow.command(action)
        obs, extra = shadow.build(st, cmd, adapter_fn(amo.AmoObservation.adapter_input(cmd, st)))
        assert obs.shape == (amo.OBS_DIM,) and extra.shape == (amo.EXTRA_DIM,)
        raw = np.clip(policy_fn(obs, extra), -40, 40)
        shadow.after_action(raw, st, cmd.standing)
        np.testing.assert_allclose(b.backend._targets, amo.DEFAULT_POS[:15] + 0.25 * raw, atol=1e-5)
    assert b.state == State.ACTIVE
    assert shadow.target_yaw == pytest.approx(b.backend.obs.target_yaw)
    assert shadow.target_yaw == pytest.approx(0.5 * 0.02 * (150 - 100), abs=0.05)  # integrated once ACTIVE
    assert np.all(robot.max_step() <= b.cfg.body_velocity_caps() * 0.02 + 1e-9)


def test_observation_layout_by_index():
    o = amo.AmoObservation("rate")
    st = RobotState.standing()
    st.q = st.q + np.linspace(0.0, 0.28, 29)
    st.dq = np.linspace(1.0, 2.9, 29)
    st.gyro = np.array([0.4, 0.8, -1.2])
    yaw = 0.3
    st.quat = np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    o.reset(0.1)  # heading at start-up 0.1 rad
    a = action_with(base_height=0.65, torso_rpy=[0.1, 0.2, 0.3], base_velocity=[0.4, -0.2], yaw=[0.5, 0.0])
    frames = []
    for i in range(12):
        cmd = o.command(a)
        obs, extra = o.build(st, cmd, np.full(15, float(i)))
        frames.append(obs[:93].copy())
        o.after_action(np.full(15, 0.5), st, cmd.standing)
    q23 = st.q[amo.OBS_JOINTS]
    assert cmd.target_yaw == pytest.approx(12 * 0.5 * 0.02)
    np.testing.assert_allclose(obs[0:3], st.gyro * 0.25)
    np.testing.assert_allclose(obs[3:5], [0.0, 0.0], atol=1e-12)
    dyaw = amo.wrap(yaw - 0.1 - cmd.target_yaw)
    np.testing.assert_allclose(obs[5:7], [math.sin(dyaw), math.cos(dyaw)])
    np.testing.assert_allclose(obs[7:30], q23 - amo.DEFAULT_POS)
    dq = st.dq[amo.OBS_JOINTS] * 0.05
    dq[[4, 5, 10, 11, 13, 14]] = 0.0
    np.testing.assert_allclose(obs[30:53], dq)
    np.testing.assert_allclose(obs[53:68], 0.5)  # last raw action
    np.testing.assert_allclose(obs[68:76], (q23[15:] - amo.DEFAULT_POS[15:]) / 0.25)
    assert obs[76:78].shape == (2,) and np.all(np.abs(obs[76:78]) <= 1)
    np.testing.assert_allclose(obs[78:93], 11.0)  # adapter output of this frame
    np.testing.assert_allclose(obs[93:101], q23[15:])
    np.testing.assert_allclose(obs[101:104], [0.4, -0.2, 0.0])
    np.testing.assert_allclose(obs[104:107], [0.3, 0.2, 0.1])  # torso yaw, pitch, roll
    np.testing.assert_allclose(obs[107:110], 0.65)
    np.testing.assert_allclose(obs[110:113], 0.0)
    hist = obs[113:].reshape(10, 93)
    np.testing.assert_allclose(hist, np.array(frames[1:11]))  # the 10 previous frames, oldest first
    ext = extra.reshape(25, 93)
    np.testing.assert_allclose(ext[-12:], np.array(frames))  # includes this frame
    np.testing.assert_allclose(ext[:-12], 0.0)
    adapter_in = amo.AmoObservation.adapter_input(cmd, st)
    np.testing.assert_allclose(adapter_in, np.r_[0.65, 0.3, 0.2, 0.1, q23[15:]])


def test_standing_locks_gait_and_ignores_heading_walking_advances_it():
    o = amo.AmoObservation("rate")
    st = RobotState.standing()
    st.quat = np.array([math.cos(0.2), 0.0, 0.0, math.sin(0.2)])
    stand = action_with(base_velocity=[0.05, 0.0])
    for _ in range(30):
        cmd = o.command(stand)
        obs, _ = o.build(st, cmd, np.zeros(15))
        o.after_action(np.zeros(15), st, cmd.standing)
    assert cmd.standing
    np.testing.assert_allclose(o.gait, [0.25, 0.25])
    np.testing.assert_allclose(obs[5:7], [0.0, 1.0])  # sin/cos of a zero heading error
    walk = action_with(base_velocity=[0.0, 0.0], yaw=[0.3, 0.0])  # turning in place is not standing
    phases = []
    for _ in range(30):
        cmd = o.command(walk)
        o.build(st, cmd, np.zeros(15))
        o.after_action(np.zeros(15), st, cmd.standing)
        phases.append(o.gait.copy())
    assert not cmd.standing
    assert len({round(p[0], 6) for p in phases}) > 20
    assert any(abs(p[1] - p[0]) == pytest.approx(0.5) for p in phases)  # feet half a cycle apart


def test_target_yaw_mode_takes_the_action_yaw():
    o = amo.AmoObservation("target")
    cmd = o.command(action_with(yaw=[0.5, 1.2]))
    assert cmd.target_yaw == pytest.approx(1.2)


def test_amo_runs_at_50hz_inside_a_500hz_loop(tmp_path):
    paths, *_ = write_models(tmp_path)
    b = Bridge(amo_config(paths, control_rate_hz=500.0))
    calls = []
    forward = b.backend.models.policy_forward
    b.backend.models.policy_forward = lambda *x: calls.append(1) or forward(*x)
    robot = FakeRobot()
    run(b, robot, 0.0, 1.0, 0.002, al.standing_action())
    assert len(calls) == 50
    assert np.all(robot.max_step() <= b.cfg.body_velocity_caps() * 0.002 + 1e-9)


def test_policy_nan_output_damps(tmp_path):
    paths, *_ = write_models(tmp_path, policy=TinyPolicy(nan=True))
    b = Bridge(amo_config(paths))
    out, _ = run(b, FakeRobot(), 0.0, 0.1, 0.02, al.standing_action())
    assert b.state == State.DAMPING and out.damping and "amo backend failed" in b.reason


@pytest.mark.parametrize("kind,match", [
    ("policy_in", r"amo_jit\.pt.*\(1, 1043\).*\(1, 2325\)"),
    ("policy_out", r"amo_jit\.pt.*returned shape \(12,\).*\(1, 15\)"),
    ("adapter_in", r"adapter_jit\.pt.*\(1, 12\)"),
    ("adapter_out", r"adapter_jit\.pt.*returned shape \(10,\)"),
    ("stats_key", r"adapter_norm_stats\.pt.*has no 'output_std'"),
    ("stats_shape", r"adapter_norm_stats\.pt.*input_mean has shape \(11,\), expected \(12,\)"),
])
def test_mismatched_weights_fail_at_configure_time_naming_file_and_shapes(tmp_path, kind, match):
    torch.manual_seed(0)
    policy = {"policy_in": TinyPolicy(n_obs=1000), "policy_out": TinyPolicy(n_out=12)}.get(kind)
    adapter = {"adapter_in": TinyAdapter(n_in=14), "adapter_out": TinyAdapter(n_out=10)}.get(kind)
    stats = None
    if kind.startswith("stats"):
        stats = {"input_mean": np.zeros(12), "input_std": np.ones(12), "output_mean": np.zeros(15),
                 "output_std": np.ones(15)}
        if kind == "stats_key":
            del stats["output_std"]
        else:
            stats["input_mean"] = np.zeros(11)
    paths, *_ = write_models(tmp_path, policy=policy, adapter=adapter, stats=stats)
    with pytest.raises(ConfigError, match=match):
        Bridge(amo_config(paths))


def test_missing_or_non_torchscript_files_are_named(tmp_path):
    paths, *_ = write_models(tmp_path)
    missing = dict(paths, amo_policy_path=str(tmp_path / "nope" / "amo_jit.pt"))
    with pytest.raises(ConfigError, match=r"nope/amo_jit\.pt.*not found.*\(1, 1043\)"):
        Bridge(amo_config(missing))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"junk\.pt.*not a TorchScript"):
        Bridge(amo_config(dict(paths, amo_adapter_path=str(junk))))
    with pytest.raises(ConfigError, match=r"stats\.pt.*not found"):
        Bridge(amo_config(dict(paths, amo_norm_stats_path=str(tmp_path / "stats.pt"))))
