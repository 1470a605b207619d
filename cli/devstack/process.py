"""Processes we start and may stop: identified by pid *and* start time, so a reused pid is
never mistaken for ours."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    """A process this stack started: its pid and the kernel's start time of that pid."""

    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> ProcessRecord | None:
        ticks = start_ticks(pid)
        return None if ticks is None else cls(pid, ticks)

    def alive(self) -> bool:
        return start_ticks(self.pid) == self.start_ticks

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), None if no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; it only waits to be reaped
        return None
    return int(fields[19])


def terminate(record: ProcessRecord, timeout: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL: only if the pid still is the process we started."""
    if not record.alive():
        return
    os.kill(record.pid, signal.SIGTERM)
    if wait_gone(record, timeout):
        return
    os.kill(record.pid, signal.SIGKILL)
    wait_gone(record, 10.0)


def wait_gone(record: ProcessRecord, timeout: float) -> bool:
    """Wait until the process has exited (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)
        if not record.alive():
            return True
        time.sleep(0.05)
    return False


def spawn(argv: Sequence[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a daemon: its own session, no stdin, output to ``log`` (never to our pipes, so a
    caller waiting on our output, such as CI, is not held open by the server)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )


class Deadline:
    """A startup deadline that moves while the server is visibly busy: each time its log has
    grown, at least ``quiet`` more seconds are allowed, up to ``limit`` seconds in all. A broker
    recovering thousands of logs after an unclean stop writes steadily for minutes; one that
    hangs writes nothing, and fails after ``initial`` seconds as before."""

    def __init__(self, log: Path, initial: float, *, quiet: float = 30.0, limit: float = 900.0):
        self._log = log
        self._quiet = quiet
        now = time.monotonic()
        self._end = now + initial
        self._cap = now + max(limit, initial)
        self._size = self._log_size()

    def _log_size(self) -> int:
        try:
            return self._log.stat().st_size
        except OSError:
            return 0

    def open(self) -> bool:
        """True while there is time left (checking the log's growth first)."""
        now = time.monotonic()
        size = self._log_size()
        if size != self._size:
            self._size = size
            self._end = min(self._cap, max(self._end, now + self._quiet))
        return now < self._end


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a short command to completion, capturing its output as text."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **kwargs
    )
