"""The one small interface every registry storage backend implements.

A backend is a log of ``_schemas`` records plus a follower that feeds them, in order, to the
view. ``append`` returns only once the backend has read its own record back and applied it,
so a writer always sees its write (read-your-own-write), as Confluent's ``KafkaStore`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from strangler.schema_registry.records import LogRecord

Apply = Callable[[LogRecord], None]


class Storage(Protocol):
    """A durable, ordered log of registry records."""

    def start(self, apply: Apply) -> None:
        """Replay the whole log through ``apply``, then keep following new records."""

    def append(self, record: LogRecord) -> None:
        """Write ``record``; return after ``apply`` has seen it. Raises ``StoreError``."""

    def sync(self) -> None:
        """Catch up with records other writers appended; return once they are applied."""

    def close(self) -> None:
        """Stop following and release the log."""
