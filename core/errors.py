"""One root exception for strangler, with the structured attributes the CLI and logs rely on.

Every error names the problem and, where one exists, the fix. ``retriable`` tells a caller
whether trying the same thing again may succeed (a service still starting, a lost connection)
or whether a person has to act first (bad config, an incompatible schema).
"""

from __future__ import annotations


class StranglerError(Exception):
    """Root of every error strangler raises on purpose."""

    retriable: bool = False
    exit_code: int = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ConfigError(StranglerError):
    """The pipeline file (or an option) is wrong; nothing was started."""

    exit_code = 2


class ServiceUnavailable(StranglerError):
    """A service (database, Kafka, registry) could not be reached."""

    retriable = True
    exit_code = 3


class PrerequisiteMissing(StranglerError):
    """A program strangler needs is not installed on this machine."""

    exit_code = 4
