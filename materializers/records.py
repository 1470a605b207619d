"""Decoded table-topic records, ready to apply, and records that could not be decoded.

A ``ChangeRecord`` is one Kafka record of a table topic after decoding: its place in Kafka
(topic, partition, offset), the operation, the position sort key, and the key and value
records (Avro field name → value) with the writer schemas they were decoded with.

- Upsert: ``value`` is the row. Delete: ``value`` is None (a tombstone).
- Truncate (header ``op`` = ``t``): ``key`` and ``value`` are None here. On the wire it is
  sent to every partition of the topic with the key ``TRUNCATE_KEY`` (a compacted topic
  refuses null keys) and a non-null value (the position text, so compaction keeps the latest
  marker instead of dropping it as a tombstone). It clears the view table of the rows at or
  before its position, whichever partition they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strangler.core.events import Op

TRUNCATE_KEY = b"__strangler_truncate__"
"""Kafka key of truncate markers (their ``op`` header says what they are; the key is ignored)."""


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A schema as registered: its registry id and its parsed JSON form."""

    id: int
    schema: Mapping[str, Any]


@dataclass(slots=True)
class ChangeRecord:
    """One decoded record of a table topic; never changed once made (not ``frozen`` only
    because a frozen dataclass costs a microsecond per record to build, on the hot path)."""

    topic: str
    partition: int
    offset: int
    op: Op
    position: bytes
    """Sort key of the source position (``positions.sort_key``)."""
    key: Mapping[str, Any] | None
    value: Mapping[str, Any] | None
    key_schema: WriterSchema | None = None
    value_schema: WriterSchema | None = None

    @property
    def is_truncate(self) -> bool:
        return self.op is Op.TRUNCATE


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be decoded or applied, bound for the dead-letter table."""

    topic: str
    partition: int
    offset: int
    error: str
    key: bytes | None = None
    value: bytes | None = None


Received = ChangeRecord | BadRecord
"""What the consumer hands the applier, in log order."""
