"""ProcessPolicy: the same chunks as the in-process ChunkPolicy, errors carried back, clean shutdown."""
import functools

import numpy as np
import pytest

from psi0_policy.model.policy import ChunkPolicy, Observation
from psi0_policy.model.process_policy import ProcessPolicy


def test_process_policy_matches_in_process_and_reports_errors():
    obs = Observation(np.full((240, 320, 3), 77, np.uint8), np.zeros(32), "pick")
    prefix = np.linspace(-1, 1, 4 * 36).reshape(4, 36)
    local = ChunkPolicy.random("tiny", seed=3)
    remote = ProcessPolicy(functools.partial(ChunkPolicy.random, "tiny", seed=3))
    try:
        a, b = local.infer(obs, prefix), remote.infer(obs, prefix)
        assert b.shape == (30, 36) and np.array_equal(b[:4], prefix)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(remote.unnormalize(b), local.unnormalize(b))
        with pytest.raises(RuntimeError, match="state must be 32"):
            remote.infer(Observation(obs.image, np.zeros(5), "x"))
        assert remote.infer(obs).shape == (30, 36)  # still serving after an error
    finally:
        remote.close()
    assert not remote._proc.is_alive()
    with pytest.raises(RuntimeError, match="no config.json"):
        ProcessPolicy(functools.partial(ChunkPolicy.from_checkpoint, "/nonexistent/ckpt"))
