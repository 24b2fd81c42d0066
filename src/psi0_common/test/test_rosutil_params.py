"""declare_config over real rclpy: typed parameters, empty lists, overrides, unknown names."""
import re
from dataclasses import dataclass

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.parameter import Parameter  # noqa: E402

from psi0_common.config import ConfigError, param, validate  # noqa: E402
from psi0_common.rosutil.params import declare_config  # noqa: E402


@dataclass(frozen=True)
class DemoConfig:
    rate: float = param(50.0, "Loop rate (Hz).", low=1.0, high=500.0)
    name: str = param("sim", "A name.", choices=("sim", "real"))
    gains: list[float] = param([1.0, 2.0], "Gains.")
    extras: list[str] = param([], "Optional extra topics.")
    enabled: bool = param(True, "Switch.")

    def __post_init__(self):
        validate(self)


def make(ctx, overrides=()):
    return rclpy.create_node("params_demo", context=ctx, parameter_overrides=list(overrides))


def test_defaults_including_empty_list(rclpy_context):
    node = make(rclpy_context)
    try:
        cfg = declare_config(node, DemoConfig)
        assert cfg == DemoConfig()
        assert cfg.extras == [] and cfg.gains == [1.0, 2.0]
        desc = node.describe_parameter("rate")
        assert "Loop rate" in desc.description and desc.floating_point_range[0].to_value == 500.0
    finally:
        node.destroy_node()


def test_overrides_are_typed_and_validated(rclpy_context):
    node = make(rclpy_context, [Parameter("rate", value=100.0), Parameter("extras", value=["/a", "/b"]),
                                Parameter("name", value="real")])
    try:
        cfg = declare_config(node, DemoConfig)
        assert cfg.rate == 100.0 and cfg.extras == ["/a", "/b"] and cfg.name == "real"
    finally:
        node.destroy_node()


@pytest.mark.parametrize("override, message", [
    (Parameter("rat", value=10.0), "unknown parameter 'rat' (did you mean 'rate'?)"),
    (Parameter("name", value="moon"), "not one of"),
    (Parameter("rate", value=1000.0), "rate"),
])
def test_bad_overrides_raise_config_error(rclpy_context, override, message):
    node = make(rclpy_context, [override])
    try:
        with pytest.raises(ConfigError, match=re.escape(message)):
            declare_config(node, DemoConfig)
    finally:
        node.destroy_node()
