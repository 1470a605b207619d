"""Waiting on a command run as a subprocess (``strangler run``, ``connect``, ...)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def wait_while_running(
    condition: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 60
) -> None:
    """Wait until ``condition()`` holds; fail with the process's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
