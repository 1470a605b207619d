"""Lag of a view: records behind the end of each partition and seconds behind the source.

Seconds behind source = now - the source commit time (header ``commit_ts_us``, µs since the
epoch) of the last record applied from the partition; records behind = end offset - the next
offset to apply (stored with the rows).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from strangler.core.headers import COMMIT_TS_US
from strangler.materializers.decoding import Headers, header_map
from strangler.materializers.records import Received
from strangler.materializers.target import Partition


class _Message(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def headers(self) -> Headers: ...


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far one partition of a view is behind."""

    records: int
    """End offset minus the next offset to apply."""
    seconds: float | None
    """Now minus the source commit time of the last applied record (None if unknown)."""


def _commit_ts(message: _Message) -> int | None:
    headers = header_map(message.headers())
    text = headers.get(COMMIT_TS_US) or headers.get("commit_ts")
    return int(text) if text and text.isdigit() else None


class LagTracker:
    """Remembers source commit times of records in flight and of the last applied ones."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int, int], int] = {}
        self.last_commit_us: dict[Partition, int] = {}

    def saw(self, message: _Message) -> None:
        ts = _commit_ts(message)
        if ts is not None:
            place = (message.topic() or "", message.partition() or 0, message.offset() or 0)
            self._seen[place] = ts

    def applied(self, batch: Sequence[Received]) -> None:
        for record in batch:
            self._applied(record.topic, record.partition, record.offset)

    def applied_up_to(self, next_offsets: Mapping[Partition, int]) -> None:
        """``applied`` for a batch of which only the next offset per partition is known (its
        last record per partition is the one ``saw`` was given)."""
        for (topic, partition), next_offset in next_offsets.items():
            self._applied(topic, partition, next_offset - 1)

    def _applied(self, topic: str, partition: int, offset: int) -> None:
        ts = self._seen.pop((topic, partition, offset), None)
        if ts is not None:
            self.last_commit_us[(topic, partition)] = ts

    def lag(
        self, next_offsets: Mapping[Partition, int], end_offsets: Mapping[Partition, int]
    ) -> dict[Partition, PartitionLag]:
        now_us = time.time() * 1e6
        out: dict[Partition, PartitionLag] = {}
        for place, end in end_offsets.items():
            ts = self.last_commit_us.get(place)
            seconds = None if ts is None else max(0.0, (now_us - ts) / 1e6)
            out[place] = PartitionLag(max(0, end - next_offsets.get(place, 0)), seconds)
        return out
