"""The change-event model every connector emits and every sink consumes.

A ``ChangeEvent`` is frozen: once a source has decoded it, nothing downstream can alter it.
Its ``position`` is the source's own, typed and ordered (a PostgreSQL LSN, a MySQL GTID set or
binlog file:pos); positions only move forward within one source.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Row = Mapping[str, Any]


class Op(StrEnum):
    """Operation codes, as in Debezium's envelope (header ``op``)."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"  # a row read by a snapshot
    TRUNCATE = "t"


@dataclass(frozen=True, slots=True, order=True)
class TableId:
    """A source table: schema (PostgreSQL schema or MySQL database) and name."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


class Position(ABC):
    """A point in a source's change log. Totally ordered within one source."""

    @abstractmethod
    def encode(self) -> str:
        """The text form carried in the ``position`` header and stored in offset stores."""

    @abstractmethod
    def __lt__(self, other: Any) -> bool: ...

    def __le__(self, other: Any) -> bool:
        return bool(self == other or self < other)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One row-level change (or a table-level truncate) from a source's log or snapshot."""

    table: TableId
    op: Op
    key: Row | None
    before: Row | None
    after: Row | None
    position: Position
    commit_ts_us: int | None = None
    """Commit time in microseconds since the Unix epoch (None for snapshot reads)."""
    tx_id: str | None = None
