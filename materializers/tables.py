"""A view table's shape, derived from a topic's key and value schemas and its view config.

Columns are named after the *source* columns (the Avro field's ``strangler.column`` property
when the field name had to be sanitised, else the field name), then renamed as configured.
The primary key is the key schema's fields, in order. Value columns are the value schema's
fields that are not key columns, projected as configured; all are nullable, so a later schema
that drops a field, or a record of an older schema, stores NULL there.

Every view table also has ``__strangler_position``: the sort key of the source position of the
row's last change (see ``positions``), which the per-key guard compares against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from strangler.core.avro import ORIGINAL_NAME, AvroType
from strangler.materializers.columns import sql_type, widening, without_null
from strangler.materializers.config import TopicConfig
from strangler.materializers.errors import SchemaChangeError

POSITION_COLUMN = "__strangler_position"
"""The hidden column with the sort key of the row's source position."""
RESERVED = frozenset({POSITION_COLUMN, "__strangler_delete"})
"""Column names the materializer uses itself."""


@dataclass(frozen=True, slots=True)
class ViewColumn:
    """One column of a view table."""

    name: str
    """Its name in the view (after renames)."""
    source: str
    """The source column's name (what projections, renames and filters refer to)."""
    avro_type: AvroType
    """Its Avro type without null."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "avro_type": self.avro_type}


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A view table: name, key columns (the primary key) and value columns."""

    name: str
    key: tuple[ViewColumn, ...]
    values: tuple[ViewColumn, ...]

    @property
    def columns(self) -> tuple[ViewColumn, ...]:
        return self.key + self.values

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": [c.to_json() for c in self.key],
            "values": [c.to_json() for c in self.values],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSpec:
        return cls(
            data["name"],
            tuple(ViewColumn(**c) for c in data["key"]),
            tuple(ViewColumn(**c) for c in data["values"]),
        )


def source_name(field: Mapping[str, Any]) -> str:
    """The source column an Avro field carries."""
    original = field.get(ORIGINAL_NAME)
    return original if isinstance(original, str) else str(field["name"])


def _column(topic: TopicConfig, field: Mapping[str, Any]) -> ViewColumn:
    source = source_name(field)
    return ViewColumn(topic.rename.get(source, source), source, without_null(field["type"]))


def table_spec(
    topic: TopicConfig, key_schema: Mapping[str, Any], value_schema: Mapping[str, Any] | None
) -> TableSpec:
    """The table a topic fills, from its key schema and (if known yet) its value schema."""
    key = tuple(_column(topic, f) for f in key_schema["fields"])
    key_sources = {c.source for c in key}
    fields: Sequence[Mapping[str, Any]] = value_schema["fields"] if value_schema else ()
    values = tuple(
        _column(topic, f)
        for f in fields
        if source_name(f) not in key_sources
        and (topic.columns is None or source_name(f) in topic.columns)
    )
    names = [c.name for c in key + values]
    dup = sorted({n for n in names if names.count(n) > 1})
    clash = dup or sorted(RESERVED.intersection(names))
    if clash:
        raise SchemaChangeError(
            f"topic {topic.topic}: view table {topic.table_name} would have columns "
            f"{clash} twice (or reserved); rename them in the view config"
        )
    return TableSpec(topic.table_name, key, values)


@dataclass(frozen=True, slots=True)
class Evolution:
    """What changes in a table when a new schema arrives."""

    spec: TableSpec
    """The table after the change (existing columns kept, new ones appended)."""
    added: tuple[ViewColumn, ...] = ()
    widened: tuple[ViewColumn, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.added or self.widened)


def _key_change(old: TableSpec, new: TableSpec) -> str | None:
    before, after = [c.source for c in old.key], [c.source for c in new.key]
    if before != after:
        return f"key columns changed from {before} to {after}"
    for a, b in zip(old.key, new.key, strict=True):
        if widening(a.avro_type, b.avro_type) is not False:
            return f"key column {a.source} changed type from {a.avro_type} to {b.avro_type}"
    return None


def evolve(old: TableSpec, new: TableSpec) -> Evolution:
    """How ``old`` follows ``new``: add columns, widen types; anything else is a
    ``SchemaChangeError`` that names the change."""
    problem = _key_change(old, new)
    if problem:
        raise SchemaChangeError(f"table {old.name}: {problem}; a key cannot change in place")
    current = {c.source: c for c in old.values}
    added = tuple(c for c in new.values if c.source not in current)
    widened: list[ViewColumn] = []
    for col in new.values:
        before = current.get(col.source)
        if before is None:
            continue
        wider = widening(before.avro_type, col.avro_type)
        if wider is None:
            raise SchemaChangeError(
                f"table {old.name}: column {col.source} changed type from "
                f"{before.avro_type} to {col.avro_type}, which is not a widening"
            )
        if wider and sql_type(before.avro_type) != sql_type(col.avro_type):
            widened.append(replace(before, avro_type=col.avro_type))
    kept = tuple(next((w for w in widened if w.source == c.source), c) for c in old.values)
    spec = TableSpec(old.name, old.key, kept + added)
    return Evolution(spec, added, tuple(widened))
