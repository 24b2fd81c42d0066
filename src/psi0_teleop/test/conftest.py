"""Shared fixtures: one IK model per test session (parsing the MJCF takes ~0.2 s)."""
import pytest


@pytest.fixture(scope="session")
def ik_model():
    from psi0_teleop.ik import WholeBodyIK

    return WholeBodyIK()


@pytest.fixture
def ik(ik_model):
    ik_model.reset()
    return ik_model
