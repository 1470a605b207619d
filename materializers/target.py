"""What a view database offers the applier: one transaction at a time, bookkeeping, rows.

Implemented by ``sqlite_target.SqliteTarget`` and ``postgres_target.PostgresTarget``. The
applier calls ``begin``, then any of the writing methods, then ``commit`` (or ``rollback``):
rows, offsets, table shapes and dead letters of a batch commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from strangler.materializers.columns import Dialect
from strangler.materializers.records import BadRecord
from strangler.materializers.tables import Evolution, TableSpec

Partition = tuple[str, int]
"""(topic, partition)."""


@dataclass(slots=True)
class StagedRow:
    """One compacted change, converted for the database: a delete carries only the key.
    (Not frozen only for speed: one is built per applied change.)"""

    delete: bool
    position: bytes
    values: tuple[Any, ...]
    """Key column values, then value column values (None for a delete)."""


@dataclass(frozen=True, slots=True)
class TableState:
    """A view table as the database remembers it."""

    spec: TableSpec
    truncated_at: bytes | None


class Target(Protocol):
    """A view database (see the module docstring)."""

    dialect: Dialect
    apply_ahead: bool
    """Whether batches are applied in a thread of their own while the next one is decoded
    (``ApplyThread``): True if the database works on a batch outside the GIL for long
    stretches."""

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...

    def load_offsets(self, view: str) -> dict[Partition, int]:
        """Next offset to read per partition, as committed with the rows."""

    def load_tables(self, view: str) -> dict[str, TableState]:
        """The view's tables by topic; inside a transaction, truncate marks are locked."""

    def save_table(self, view: str, topic: str, state: TableState) -> None: ...
    def create_table(self, spec: TableSpec) -> None: ...
    def alter_table(self, evolution: Evolution) -> None: ...
    def truncate(self, spec: TableSpec, position: bytes) -> None: ...
    def apply(self, spec: TableSpec, rows: Sequence[StagedRow]) -> None: ...
    def save_offsets(self, view: str, offsets: Mapping[Partition, int]) -> None: ...

    def load_positions(self, view: str) -> dict[Partition, bytes]:
        """The latest source position applied per partition (sort keys)."""

    def save_positions(self, view: str, positions: Mapping[Partition, bytes]) -> None:
        """Raise the applied positions (after ``save_offsets`` of the same partitions)."""

    def dead_letter(self, view: str, records: Sequence[BadRecord]) -> None: ...

    def lock_shapes(self) -> None:
        """Keep other writers from creating or altering tables until the transaction ends."""

    def lock_tables(self, names: Sequence[str]) -> None:
        """Keep other writers out of these tables until the transaction ends."""

    def swap_table(self, live: str, shadow: str) -> None:
        """Drop ``live`` and rename ``shadow`` to it (with the deleted-keys companions)."""

    def forget_view(self, view: str) -> None:
        """Delete a view's offsets and table shapes."""
