"""Converter settings shared by the data tests (a module of its own: `conftest` is not importable by name
when several test directories each have one)."""
from psi0_training.data.config import ConvertConfig

SMALL = dict(image_hw=(60, 80), duration_s=2.0)
CFG = ConvertConfig(image_height=48, image_width=64)
