import numpy as np
import pytest

from psi0_policy.observation import ObservationCache, build_state


def test_build_state_layout():
    body = np.arange(35) * 0.01
    s = build_state(body, np.full(7, 0.1), np.full(7, 0.2), 0.74)
    assert s.shape == (32,)
    assert np.all(s[:7] == 0.1) and np.all(s[7:14] == 0.2)
    np.testing.assert_array_equal(s[14:28], body[15:29])
    np.testing.assert_array_equal(s[28:31], [body[13], body[14], body[12]])  # roll, pitch, yaw
    assert s[31] == 0.74
    with pytest.raises(ValueError, match="7 \\+ 7"):
        build_state(body, np.zeros(6), np.zeros(7), 0.75)
    body[20] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        build_state(body, np.zeros(7), np.zeros(7), 0.75)


def test_cache_reasons_and_height_source():
    c = ObservationCache(0.5, 0.2, task="")
    assert "no task" in c.get(0.0)[1]
    c.set_task("pick")
    assert c.get(0.0)[1] == "no image received"
    c.set_image(np.zeros((240, 320, 3), np.uint8), 1.0)
    assert c.get(1.0)[1] == "no /lowstate received"
    c.set_body(np.zeros(35), 1.0)
    assert "left Dex3" in c.get(1.0)[1]
    c.set_hand("left", np.zeros(7), 1.0)
    c.set_hand("right", np.zeros(7), 1.0)
    obs, why = c.get(1.1)
    assert why == "" and obs.state[31] == 0.75 and obs.task == "pick"
    c.set_commanded_height(0.6)
    assert c.get(1.1)[0].state[31] == 0.6
    assert c.get(1.7)[1].startswith("image is 0.70 s old")
    c.set_image(np.zeros((240, 320, 3), np.uint8), 1.7)
    assert c.get(1.7)[1].startswith("lowstate is 0.70 s old")
