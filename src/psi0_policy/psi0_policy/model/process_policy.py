"""Run a ChunkPolicy in a child process, so inference never holds the control process's GIL.

In one process the 30 Hz control thread must take the GIL from the inference thread, which on a loaded
CPU can be descheduled while holding it (measured p99 tick jitter 5-12 ms with the tiny model on the
shared 2-core machine). Here the parent's inference thread only waits on a pipe (GIL released), and the
model runs in a `spawn`ed child. Same protocol as ChunkPolicy (infer / normalize / unnormalize / warmup).

    policy = ProcessPolicy(functools.partial(ChunkPolicy.from_checkpoint, path, device="cuda"))
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import traceback
from typing import Callable

import numpy as np


def _serve(conn, factory, torch_threads: int) -> None:
    try:
        if torch_threads > 0:
            import torch
            torch.set_num_threads(torch_threads)
        policy = factory()
        conn.send(("ok", {"norm": policy.norm, "horizon": policy.horizon, "action_dim": policy.action_dim,
                          "size": policy.model.cfg.size}))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "close":
            return
        try:
            if msg[0] == "infer":
                conn.send(("ok", policy.infer(msg[1], msg[2])))
            elif msg[0] == "warmup":
                conn.send(("ok", policy.warmup(msg[1], msg[2])))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessPolicy:
    def __init__(self, factory: Callable[[], object], torch_threads: int = 1, start_timeout: float = 300.0):
        """factory: picklable callable building the ChunkPolicy in the child (e.g. functools.partial)."""
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, factory, torch_threads), daemon=True,
                                 name="psi0-inference")
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        if not self._conn.poll(start_timeout):
            self.close()
            raise RuntimeError(f"inference process did not start within {start_timeout:.0f} s")
        status, info = self._conn.recv()
        if status != "ok":
            self.close()
            raise RuntimeError(f"inference process failed to load the policy: {info}")
        self.norm = info["norm"]
        self.horizon, self.action_dim, self.size = info["horizon"], info["action_dim"], info["size"]

    def _call(self, *msg):
        with self._lock:
            if not self._proc.is_alive():
                raise RuntimeError(f"inference process exited (code {self._proc.exitcode})")
            self._conn.send(msg)
            try:
                status, value = self._conn.recv()   # blocks without the GIL
            except EOFError as exc:
                raise RuntimeError(f"inference process died (code {self._proc.exitcode})") from exc
        if status != "ok":
            raise RuntimeError(value)
        return value

    def infer(self, obs, prefix_norm: np.ndarray | None = None) -> np.ndarray:
        return self._call("infer", obs, prefix_norm)

    def warmup(self, obs, runs: int = 2) -> list[float]:
        return self._call("warmup", obs, runs)

    def normalize(self, actions) -> np.ndarray:
        return self.norm.action.normalize(actions)

    def unnormalize(self, chunk_norm) -> np.ndarray:
        return self.norm.action.unnormalize(chunk_norm)

    def close(self, timeout: float = 5.0) -> None:
        try:
            if self._proc.is_alive():
                self._conn.send(("close",))
        except (OSError, BrokenPipeError):
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout)
        self._conn.close()
