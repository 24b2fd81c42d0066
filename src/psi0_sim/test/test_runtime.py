"""SimRuntime without ROS: physics thread, render thread, reset hand-off."""
import time

import numpy as np

from psi0_sim.config import SimConfig
from psi0_sim.robot import G1Sim
from psi0_sim.runtime import SimRuntime


def test_runtime_publishes_states_frames_and_resets():
    sim = G1Sim(SimConfig(camera_width=64, camera_height=48, base_mode="fixed"))
    states, frames, hands, tasks = [], [], [], []
    rt = SimRuntime(sim, on_lowstate=states.append, on_hand_state=lambda s, h: hands.append(s),
                    on_frame=frames.append, on_task=tasks.append)
    rt.start()
    try:
        t0 = time.monotonic()
        while (len(frames) < 5 or len(states) < 200) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert len(frames) >= 5 and len(states) >= 200
        ticks = np.array([s.tick for s in states])
        assert np.all(np.diff(ticks) == 2)                     # every physics step reaches the callback
        f = frames[-1]
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.image.std() > 0
        stamps = [fr.stamp_ns for fr in frames]
        assert stamps == sorted(stamps)
        sim_dt = np.diff([fr.sim_time for fr in frames])
        assert np.all(sim_dt > 1 / 30 - 0.0021)                # at most one frame per 1/30 s of sim time
        assert set(hands) == {"left", "right"} and tasks and tasks[-1].task == "cube_in_box"
        ok, message, seed = rt.request_reset(11)
        assert ok and seed == 11 and sim.seed == 11, message
        ok, message, _ = rt.request_reset(1, "bogus")
        assert not ok and "unknown task" in message
        assert rt.physics_error is None and rt.render_error is None
    finally:
        rt.stop()
    assert not any(t.is_alive() for t in rt._threads)
