"""Errors of the local stack: a missing program, a service that would not start."""

from __future__ import annotations

from pathlib import Path

from strangler.core.errors import PrerequisiteMissing, StranglerError

__all__ = ["DevStackError", "PrerequisiteMissing", "ServiceStartFailed", "log_tail"]


class DevStackError(StranglerError):
    """The local stack could not do what was asked."""

    exit_code = 5


class ServiceStartFailed(DevStackError):
    """A server process exited or never became ready; the message ends with its own log."""

    def __init__(self, service: str, reason: str, log: Path | None) -> None:
        tail = log_tail(log) if log else ""
        where = f"\n--- last lines of {log} ---\n{tail}" if tail else ""
        super().__init__(
            f"{service} did not start: {reason}{where}",
            fix=f"read {log} for the full log" if log else None,
        )


def log_tail(path: Path | None, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, or an empty string if there is none."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 16384))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
