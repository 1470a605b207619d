"""Errors of the materializers, each marked retriable (try again) or fatal (a person acts).

- ``RecordError``: one record cannot be decoded or applied; it goes to the dead-letter table
  (or stops the view when the view is configured to stop).
- ``SchemaChangeError``: a new schema cannot be applied to the existing table; the view stops
  and the message names the change and the choices (rebuild into a new table and swap).
- ``ApplyError``: the view database refused some record's data; fatal for that record only.
- ``TargetError``: the view database failed in a way that may pass (lost connection, lock).
"""

from __future__ import annotations

from strangler.core.errors import StranglerError


class MaterializerError(StranglerError):
    """Root of every error a materializer raises on purpose."""


class RecordError(MaterializerError):
    """A record that cannot be decoded or applied (fatal for the record, not for the view)."""

    def __init__(
        self, message: str, *, topic: str = "", partition: int = -1, offset: int = -1
    ) -> None:
        super().__init__(message, fix="inspect the dead-letter table; fix the producer")
        self.topic = topic
        self.partition = partition
        self.offset = offset


class SchemaChangeError(MaterializerError):
    """A schema change the view cannot follow in place; nothing of the batch was applied."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            fix="rebuild the view into a new table and swap it in atomically "
            "(`strangler materialize --rebuild VIEW`), or project the column away",
        )


class ApplyError(MaterializerError):
    """The view database refused a batch's data (a value it cannot store, a constraint); the
    applier splits the batch to find the record and dead-letters it."""


class TargetError(MaterializerError):
    """The view database failed; the batch was rolled back and may be retried."""

    retriable = True


class ViewStopped(MaterializerError):
    """The view stopped on a bad record because it is configured to stop instead of
    dead-lettering."""
