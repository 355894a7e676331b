"""Waiting for a process under test to reach the state a test needs (a row, a file, a line it said), never for
a fixed time: on a loaded machine the state only comes later."""

from __future__ import annotations

import subprocess
import time
from typing import Callable


def wait_for(state: Callable[[], bool], proc: subprocess.Popen, what: str, timeout_s: float = 300.0) -> None:
    """Until `state()` holds; an AssertionError naming `what` at once if the process ended first, or at the
    timeout (the process is killed then, so no test leaves it behind)."""
    deadline = time.monotonic() + timeout_s
    while not state():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never {what} (exit {proc.wait()})")
        time.sleep(0.05)


def until(state: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Until `state()` holds in this process (a server double's threads, a generator's); an AssertionError
    naming `what` at the timeout."""
    deadline = time.monotonic() + timeout_s
    while not state():
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what} in {timeout_s:g} s")
        time.sleep(0.01)
