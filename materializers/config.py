"""The ``views:`` section of a pipeline file: where each view lives and what it follows.

```yaml
views:
  - name: orders-service
    target:
      sqlite: {path: /var/lib/orders/view.db}
    topics:
      - topic: shop.public.products
        table: products
        columns: [id, name, price, active]
        rename: {name: title}
        filter:
          all: [{column: active, op: eq, value: true}]
```
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from strangler.core.config import Secret, StrictModel
from strangler.core.kafka import ClientValue, KafkaSettings
from strangler.materializers.positions import PositionKind

Literal_ = str | int | float | bool


class Comparison(StrEnum):
    """How a condition compares a column with its value."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


class Condition(StrictModel):
    """One comparison of a source column (name before renames) with a literal."""

    column: str = Field(min_length=1)
    """The source column, as the source spells it."""
    op: Comparison = Comparison.EQ
    """The comparison; a NULL column value fails every comparison but is_null."""
    value: Literal_ | list[Literal_] | None = None
    """The literal (a list for in/not_in; nothing for is_null/not_null)."""

    @model_validator(mode="after")
    def _value_fits_op(self) -> Self:
        listy = self.op in (Comparison.IN, Comparison.NOT_IN)
        if listy != isinstance(self.value, list):
            raise ValueError(f"op {self.op.value} takes {'a list' if listy else 'one value'}")
        nullary = self.op in (Comparison.IS_NULL, Comparison.NOT_NULL)
        if nullary != (self.value is None):
            raise ValueError(f"op {self.op.value} {'takes no' if nullary else 'needs a'} value")
        return self


class RowFilter(StrictModel):
    """Which rows the view keeps; a row that stops matching is deleted from the view."""

    all: list[Condition] = Field(default_factory=list)
    """Every one of these must hold."""
    any: list[Condition] = Field(default_factory=list)
    """At least one of these must hold (when any are given)."""


class TopicConfig(StrictModel):
    """One table topic the view follows, and the table it fills."""

    topic: str = Field(min_length=1)
    """The compacted table topic, e.g. shop.public.products."""
    table: str | None = None
    """Target table name; defaults to the topic's last dot-separated part."""
    columns: list[str] | None = None
    """Source columns to keep (key columns are always kept); all when not given."""
    rename: dict[str, str] = Field(default_factory=dict)
    """Source column name → column name in the view."""
    filter: RowFilter | None = None
    """Rows to keep; all when not given."""
    position_kind: PositionKind = PositionKind.PG_LSN
    """How to read the position header when a record has no position_kind header."""

    @property
    def table_name(self) -> str:
        return self.table or self.topic.rsplit(".", 1)[-1]


class SqliteSync(StrEnum):
    """SQLite's synchronous setting (WAL mode). normal: no fsync per commit; a power loss may
    drop the last commits, but offsets and rows go together, so the view simply re-applies
    them from Kafka (exactly once still holds). full: an fsync per commit, several ms each."""

    NORMAL = "normal"
    FULL = "full"


class SqliteTarget(StrictModel):
    """A SQLite file (the embedded default)."""

    path: Path
    """The database file; created with its directory's permissions if missing."""
    synchronous: SqliteSync = SqliteSync.NORMAL
    """Durability of each commit (normal is safe for a view: see SqliteSync)."""
    cache_mib: int = Field(default=128, ge=1)
    """Most memory SQLite's page cache may use; upserts into a large view need it warm."""


class PostgresTarget(StrictModel):
    """A schema in a PostgreSQL database."""

    dsn: Secret
    """libpq connection string or URL."""
    db_schema: str = Field(default="public", alias="schema", min_length=1)
    """Schema holding the view's tables (created if missing)."""


class TargetConfig(StrictModel):
    """Where the view lives: exactly one of sqlite or postgres."""

    sqlite: SqliteTarget | None = None
    """A SQLite file."""
    postgres: PostgresTarget | None = None
    """A PostgreSQL schema."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.sqlite is None) == (self.postgres is None):
            raise ValueError("give exactly one of sqlite or postgres")
        return self


class BadRecordPolicy(StrEnum):
    """What happens to a record that cannot be decoded or applied."""

    DEAD_LETTER = "dead_letter"
    STOP = "stop"


class ViewConfig(StrictModel):
    """One view: a target database and the topics it mirrors."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The view's name; also names its consumer group (strangler-view-<name>)."""
    target: TargetConfig
    """Where the view lives."""
    topics: list[TopicConfig] = Field(min_length=1)
    """The table topics it follows."""
    on_bad_record: BadRecordPolicy = BadRecordPolicy.DEAD_LETTER
    """Dead-letter a bad record (and go on) or stop the view."""
    batch_size: int = Field(default=10_000, ge=1)
    """Most records applied in one database transaction."""
    batch_timeout_ms: int = Field(default=100, ge=0)
    """Longest wait for a first record; a batch never waits to fill (lone records go at once)."""
    consumer: dict[str, ClientValue] = Field(default_factory=dict)
    """librdkafka settings for this view's consumer (e.g. group.instance.id)."""

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        for what, names in (
            ("topic", [t.topic for t in self.topics]),
            ("table", [t.table_name for t in self.topics]),
        ):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{what} {sorted(dup)} appears twice in view {self.name}")
        return self

    @property
    def group_id(self) -> str:
        return f"strangler-view-{self.name}"


class MaterializeConfig(StrictModel):
    """What `strangler materialize` needs: Kafka, the registry and the views."""

    kafka: KafkaSettings
    """The Kafka cluster holding the table topics."""
    registry_url: str = Field(min_length=1)
    """Schema registry base URL, e.g. http://127.0.0.1:28081."""
    views: list[ViewConfig] = Field(min_length=1)
    """The views to keep in sync."""
