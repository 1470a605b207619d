"""What the two snapshotters share: the chunk mark that Kafka acknowledges, and the per-table
progress line (rows, rows/s, estimated total, ETA)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from strangler.core.events import Position, TableId

REPORT_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class ChunkMark(Position):
    """The acknowledgement unit of a snapshot: one chunk (or the end) of one table.
    ``after`` is the last key of the chunk in the engine's own form (resume point)."""

    seq: int
    table: TableId
    after: Any
    done: bool

    def encode(self) -> str:
        return f"chunk {self.seq} of {self.table}"

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, ChunkMark):
            return NotImplemented
        return self.seq < other.seq


@dataclass(slots=True)
class SnapshotRate:
    """Progress of one table's snapshot, logged at most every few seconds and at the end."""

    table: TableId
    estimate: int
    log: logging.Logger
    rows: int = 0
    started: float = 0.0
    reported: float = 0.0

    def report(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.reported < REPORT_EVERY_S:
            return
        self.reported = now
        rate = self.rows / max(now - self.started, 1e-6)
        left = max(self.estimate - self.rows, 0)
        eta = "done" if final else f"{left / rate:.0f}s" if rate > 0 and left else "?"
        self.log.info(
            "snapshot %s: %d of ~%d rows, %.0f rows/s, eta %s",
            self.table, self.rows, self.estimate, rate, eta,
        )  # fmt: skip
