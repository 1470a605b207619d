"""Engine-neutral table schemas and the Avro key and value records built from them.

A connector describes each table as a ``TableSchema`` (columns with their Avro types, and the
key columns); this module turns it into the two record schemas a table topic needs and renames
rows to the records' field names. It knows nothing of PostgreSQL or MySQL.

Records: ``<namespace>.<schema>.<table>.Key`` and ``….Value`` (every part sanitised by
``avro_name``). Value fields of nullable columns are ``["null", T]`` with default null; key
fields are never nullable (a key column holding NULL cannot be published as a key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strangler.core.avro import ORIGINAL_NAME, AvroType, avro_namespace, nullable, unique_avro_names
from strangler.core.errors import StranglerError
from strangler.core.events import Row, TableId


class SchemaError(StranglerError):
    """A table cannot be described as Avro records (no such key column, a NULL key value)."""


class NotData:
    """Base of markers a source puts where it has no value (PostgreSQL's unchanged TOAST).

    Such a marker must never be published as if it were data: ``value_record`` and
    ``key_record`` refuse rows that still hold one, naming the columns.
    """


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """The column's name exactly as the source spells it."""
    avro_type: AvroType
    """Its Avro type, without null (nullability is ``nullable``)."""
    nullable: bool = True
    source_type: str = ""
    """The source's type name (``numeric(10,2)``), for messages and docs."""


@dataclass(frozen=True, slots=True)
class TableSchema:
    table: TableId
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    """Names of the key columns, in key order."""
    field_names: Mapping[str, str] = field(init=False, compare=False, repr=False)
    """Column name → Avro field name (unique, sanitised)."""

    def __post_init__(self) -> None:
        names = unique_avro_names(c.name for c in self.columns)
        object.__setattr__(
            self, "field_names", dict(zip((c.name for c in self.columns), names, strict=True))
        )
        missing = [k for k in self.key if k not in self.field_names]
        if missing:
            raise SchemaError(f"{self.table}: key columns {missing} are not columns of the table")

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def value_schema(table: TableSchema, namespace: str) -> dict[str, Any]:
    """The value record: every column, nullable ones as ``["null", T]`` defaulting to null."""
    fields = [_field(table, c, c.nullable) for c in table.columns]
    return _record(table, namespace, "Value", fields)


def key_schema(table: TableSchema, namespace: str) -> dict[str, Any]:
    """The key record: the key columns, in key order, never nullable."""
    if not table.key:
        raise SchemaError(
            f"{table.table} has no key columns",
            fix="give the table a primary key or configure key columns for it",
        )
    fields = [_field(table, table.column(name), False) for name in table.key]
    return _record(table, namespace, "Key", fields)


def value_record(table: TableSchema, row: Row) -> dict[str, Any]:
    """``row`` (column name → value) renamed to the value record's field names."""
    _refuse_markers(table, row)
    return {table.field_names[c.name]: row.get(c.name) for c in table.columns}


def key_record(table: TableSchema, key: Row) -> dict[str, Any]:
    """``key`` renamed to the key record's field names; a NULL key value is an error."""
    _refuse_markers(table, key)
    nulls = [name for name in table.key if key.get(name) is None]
    if nulls:
        raise SchemaError(f"{table.table}: key columns {nulls} are NULL; a key cannot be NULL")
    return {table.field_names[name]: key[name] for name in table.key}


def _refuse_markers(table: TableSchema, row: Row) -> None:
    missing = [name for name, value in row.items() if isinstance(value, NotData)]
    if missing:
        raise SchemaError(
            f"{table.table}: columns {missing} have no value in this change "
            f"({row[missing[0]]!r}), and a placeholder must not be published as data",
            fix="fill them from the previous row image, or (PostgreSQL) set "
            "REPLICA IDENTITY FULL on the table",
        )


def _field(table: TableSchema, column: Column, is_nullable: bool) -> dict[str, Any]:
    name = table.field_names[column.name]
    spec: dict[str, Any] = {"name": name}
    if is_nullable:
        spec.update(type=nullable(column.avro_type), default=None)
    else:
        spec["type"] = column.avro_type
    if name != column.name:
        spec[ORIGINAL_NAME] = column.name
    return spec


def _record(
    table: TableSchema, namespace: str, name: str, fields: list[dict[str, Any]]
) -> dict[str, Any]:
    space = avro_namespace(*namespace.split("."), table.table.schema, table.table.name)
    return {"type": "record", "name": name, "namespace": space, "fields": fields}
