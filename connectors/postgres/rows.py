"""Rows of a relation: text tuples to typed values, and the relation's ``TableSchema``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strangler.connectors.postgres.errors import PostgresError, ValueParseError
from strangler.connectors.postgres.messages import UNCHANGED_TOAST, ColumnValue, Relation, TupleData
from strangler.connectors.postgres.relations import table_id
from strangler.connectors.postgres.types import ColumnType, TypeInfo, resolve
from strangler.core.schema import Column, TableSchema

_Parsers = tuple[tuple[str, Callable[[str], Any]], ...]


def column_types(relation: Relation, catalog: Mapping[int, TypeInfo]) -> tuple[ColumnType, ...]:
    return tuple(resolve(c.type_oid, c.type_modifier, catalog) for c in relation.columns)


class RowDecoder:
    """A ``RowConverter`` for ``TransactionAssembler``: parses each text value by its type.

    NULL stays None and ``UNCHANGED_TOAST`` passes through untouched (it is not a value).
    Column types are resolved once per Relation and cached: load the types a Relation uses
    into ``catalog`` before its rows are converted, and call ``refresh()`` after changing
    entries of types already in use (``ALTER DOMAIN``, a recreated enum).
    """

    def __init__(self, catalog: Mapping[int, TypeInfo]) -> None:
        self.catalog = catalog
        # keyed by the Relation object's id (hashing a frozen Relation walks all its columns,
        # for every row); the Relation is kept in the value so the id stays its own
        self._types: dict[int, tuple[Relation, tuple[ColumnType, ...], _Parsers]] = {}

    def refresh(self) -> None:
        self._types.clear()

    def __call__(self, relation: Relation, data: TupleData) -> dict[str, Any]:
        cached = self._types.get(id(relation))
        if cached is None:
            types = column_types(relation, self.catalog)
            parsers = tuple((c.name, t.parse) for c, t in zip(relation.columns, types, strict=True))
            cached = self._types[id(relation)] = (relation, types, parsers)
        parsers = cached[2]
        if len(parsers) == len(data.values):
            try:  # the common case in one pass; anything unusual is redone below, and explained
                return {
                    name: parse(v) if v.__class__ is str else _passed(v)
                    for (name, parse), v in zip(parsers, data.values, strict=True)
                }
            except (ValueError, ValueParseError, _Unusual):
                pass
        columns = zip(relation.columns, cached[1], data.values, strict=True)
        return {col.name: _value(relation, col.name, t, v) for col, t, v in columns}


class _Unusual(Exception):
    """A value the one-pass conversion leaves to the checked one (binary data)."""


def _passed(value: ColumnValue) -> Any:
    """NULL and ``UNCHANGED_TOAST`` pass through as they are."""
    if value is None or value is UNCHANGED_TOAST:
        return value
    raise _Unusual


def _value(relation: Relation, name: str, column_type: ColumnType, value: ColumnValue) -> Any:
    if value is None or value is UNCHANGED_TOAST:
        return value
    if isinstance(value, bytes):
        raise PostgresError(
            f"column {table_id(relation)}.{name} arrived in binary form",
            fix="start replication without the pgoutput 'binary' option",
        )
    try:
        return column_type.parse(value)
    except ValueParseError as exc:
        where = f"column {table_id(relation)}.{name}"
        raise ValueParseError(exc.type_name, exc.text, exc.problem, where) from exc
    except ValueError as exc:  # parsers from the standard library (uuid.UUID)
        where = f"column {table_id(relation)}.{name}"
        raise ValueParseError(column_type.pg_name, value, str(exc), where) from exc


def table_schema(
    relation: Relation,
    catalog: Mapping[int, TypeInfo],
    *,
    not_null: frozenset[str] = frozenset(),
    key: Sequence[str] | None = None,
) -> TableSchema:
    """The relation as a ``TableSchema``. pgoutput does not say which columns are NOT NULL;
    pass ``catalog.not_null_columns`` (key columns are never nullable either way)."""
    key_names = (
        tuple(key) if key is not None else tuple(c.name for c in relation.columns if c.is_key)
    )
    types = column_types(relation, catalog)
    columns = tuple(
        Column(c.name, t.avro_type, c.name not in not_null and c.name not in key_names, t.pg_name)
        for c, t in zip(relation.columns, types, strict=True)
    )
    return TableSchema(table_id(relation), columns, key_names)
