"""Engine-neutral parts of a source's configuration: which tables, their keys and columns, topic
names, and when to snapshot. The PostgreSQL and MySQL connectors both embed these models.

Table patterns are ``schema.table`` globs (``fnmatch``: ``*``, ``?``, ``[abc]``), matched
case-sensitively against the names as the database spells them; ``shop.*`` is every table of
``shop``. A table is captured when it matches an ``include`` pattern and no ``exclude`` pattern.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import Field, model_validator

from strangler.core.bookkeeping import is_bookkeeping
from strangler.core.config import StrictModel
from strangler.core.errors import ConfigError
from strangler.core.events import TableId


class SnapshotMode(StrEnum):
    """When a connector reads whole tables before streaming their changes."""

    INITIAL = "initial"
    """Snapshot every table once (the first run, or a table added later), then stream."""
    NEVER = "never"
    """Never snapshot: topics receive only the changes made after the slot was created."""
    WHEN_NEEDED = "when_needed"
    """Snapshot whenever the stream position is missing (first run, or the slot was lost)."""
    INITIAL_ONLY = "initial_only"
    """Snapshot every table, then stop without streaming."""


class TableSelection(StrictModel):
    """Which tables a source captures."""

    include: list[str] = Field(min_length=1)
    """``schema.table`` glob patterns of the tables to capture, e.g. ``public.*``."""
    exclude: list[str] = Field(default_factory=list)
    """Patterns of tables not to capture even though an include pattern matches them."""

    @model_validator(mode="after")
    def _patterns_have_schema(self) -> TableSelection:
        for pattern in (*self.include, *self.exclude):
            if "." not in pattern:
                raise ValueError(
                    f"pattern {pattern!r} needs a schema part, e.g. 'public.{pattern}'"
                )
        return self

    def matches(self, table: TableId) -> bool:
        """True if ``table`` is captured. A view's own bookkeeping tables (a view may live in a
        captured database) are captured only when an include pattern names them exactly."""
        name = f"{table.schema}.{table.name}"
        if is_bookkeeping(table.name):
            included = name in self.include
        else:
            included = any(fnmatch.fnmatchcase(name, p) for p in self.include)
        return included and not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)

    def select(self, tables: Iterable[TableId]) -> list[TableId]:
        """The captured tables among ``tables``, sorted."""
        return sorted(t for t in tables if self.matches(t))


class SnapshotSettings(StrictModel):
    """How the initial snapshot runs."""

    mode: SnapshotMode = SnapshotMode.INITIAL
    """initial, never, when_needed or initial_only."""
    chunk_rows: int = Field(default=20_000, ge=1)
    """Rows per key-range chunk; a crash resumes after the last chunk Kafka acknowledged."""


class TableOptions(StrictModel):
    """Per-table overrides, keyed by ``schema.table`` in ``tables.overrides``."""

    key: list[str] | None = Field(default=None, min_length=1)
    """Key columns to use instead of the primary key (unique and NOT NULL)."""
    exclude_columns: list[str] = Field(default_factory=list)
    """Columns never published (they are absent from the value record)."""

    @model_validator(mode="after")
    def _key_not_excluded(self) -> TableOptions:
        clash = sorted(set(self.key or ()) & set(self.exclude_columns))
        if clash:
            raise ValueError(f"key columns {clash} cannot be excluded")
        return self


class CaptureSettings(StrictModel):
    """The engine-neutral part of a source: tables, overrides, topic prefix, snapshot."""

    tables: TableSelection
    """Which tables to capture."""
    overrides: dict[str, TableOptions] = Field(default_factory=dict)
    """Per-table key and column options, keyed by ``schema.table``."""
    topic_prefix: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    """Topics are ``<topic_prefix>.<schema>.<table>``."""
    snapshot: SnapshotSettings = Field(default_factory=SnapshotSettings)
    """When and how tables are snapshotted."""

    def options(self, table: TableId) -> TableOptions:
        """The overrides of ``table`` (defaults when none are configured)."""
        return self.overrides.get(str(table)) or TableOptions()

    def key_override(self, table: TableId) -> Sequence[str] | None:
        return self.options(table).key

    def check_overrides(self, captured: Iterable[TableId]) -> None:
        """Every override must name a captured table (a typo would silently do nothing)."""
        names = {str(t) for t in captured}
        unknown = sorted(set(self.overrides) - names)
        if unknown:
            raise ConfigError(
                f"overrides name tables that are not captured: {', '.join(unknown)}",
                fix="correct the names (schema.table) or add them to tables.include",
            )
