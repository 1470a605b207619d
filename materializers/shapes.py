"""How the records of one writer schema map onto a view table's columns.

Records are keyed by Avro field names; the table by (renamed) source column names. A
``RowShape`` is built once per (table shape, key schema, value schema) and turns a record into
the tuple of database parameters: key columns, then value columns (None where the writer
schema has no such field), each converted for the dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strangler.materializers.columns import Convert, Dialect, sql_type
from strangler.materializers.config import RowFilter
from strangler.materializers.rowfilter import row_matches
from strangler.materializers.tables import TableSpec, source_name


def _field_names(schema: Mapping[str, Any] | None) -> dict[str, str]:
    """Source column → Avro field name, for a record schema."""
    fields = schema["fields"] if schema else []
    return {source_name(f): str(f["name"]) for f in fields}


def _filter_fields(row_filter: RowFilter | None, names: Mapping[str, str]) -> dict[str, str]:
    """Source column -> field name, for the columns the filter reads."""
    if row_filter is None:
        return {}
    conditions = [*row_filter.all, *row_filter.any]
    return {c.column: names[c.column] for c in conditions if c.column in names}


@dataclass(frozen=True, slots=True)
class RowShape:
    """Record → parameters for one table shape and one pair of writer schemas."""

    key_fields: tuple[str, ...]
    value_fields: tuple[str | None, ...]
    converters: tuple[Convert, ...]
    filter_fields: Mapping[str, str]
    row_filter: RowFilter | None

    def key_params(self, key: Mapping[str, Any]) -> tuple[Any, ...]:
        return self._converted([key[f] for f in self.key_fields])

    def params(self, key: Mapping[str, Any], value: Mapping[str, Any]) -> tuple[Any, ...]:
        raw = [key[f] for f in self.key_fields]
        raw += [None if f is None else value.get(f) for f in self.value_fields]
        return self._converted(raw)

    def _converted(self, raw: list[Any]) -> tuple[Any, ...]:
        # strict=False: a key-only row (a delete) stops at the key columns
        pairs = zip(raw, self.converters, strict=False)
        return tuple([v if c is None or v is None else c(v) for v, c in pairs])

    def keeps(self, value: Mapping[str, Any]) -> bool:
        """Whether the row filter keeps this row."""
        if self.row_filter is None:
            return True
        row = {source: value.get(f) for source, f in self.filter_fields.items()}
        return row_matches(self.row_filter, row)


def row_shape(
    spec: TableSpec,
    dialect: Dialect,
    key_schema: Mapping[str, Any] | None,
    value_schema: Mapping[str, Any] | None,
    row_filter: RowFilter | None,
) -> RowShape:
    """The shape mapping records of these writer schemas onto ``spec``."""
    key_names, value_names = _field_names(key_schema), _field_names(value_schema)
    return RowShape(
        key_fields=tuple(key_names[c.source] for c in spec.key),
        value_fields=tuple(value_names.get(c.source) for c in spec.values),
        converters=tuple(sql_type(c.avro_type).converter(dialect) for c in spec.columns),
        filter_fields=_filter_fields(row_filter, {**key_names, **value_names}),
        row_filter=row_filter,
    )
