"""A table version's codec: its ``TableSchema`` and the converters of its columns, in order.

The same ``TableCodec`` shape serves the snapshot (columns from ``information_schema``) and the
stream (columns from the TABLE_MAP event that precedes every row event), so one table yields one
Avro schema whichever path read it. A stream's codec also has the native decoder of the table's
row images (``native``) when the C code can decode every column of that table version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strangler.connectors.mysql.errors import ValueConversionError
from strangler.connectors.mysql.native import DELETE, UPDATE, WRITE, WireColumn, row_decoder
from strangler.connectors.mysql.types import (
    ZERO_DATE_TYPES,
    ColumnType,
    Converter,
    SourceColumn,
    resolve,
)
from strangler.core.errors import StranglerError
from strangler.core.events import Op, TableId
from strangler.core.schema import Column, Default, TableSchema, avro_default

if TYPE_CHECKING:
    from strangler.connectors.mysql._speedups import RowDecoder

RowPair = tuple[dict[str, Any] | None, dict[str, Any] | None]
"""A changed row: (before, after), None for the image the operation lacks."""


@dataclass(frozen=True, slots=True)
class TableCodec:
    """One version of a table: its schema, and how to turn its raw rows into row dicts."""

    schema: TableSchema
    columns: tuple[SourceColumn, ...]
    types: tuple[ColumnType, ...]
    native: RowDecoder | None = None
    """The C decoder of this table version's row images (None: Python only)."""

    @property
    def key(self) -> tuple[str, ...]:
        return self.schema.key

    def from_binlog(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A row as python-mysql-replication decoded it (column name → value)."""
        values = [raw.get(c.name) for c in self.columns]
        return self._convert(values, [t.from_binlog for t in self.types])

    def from_image(self, op: Op, image: bytes | memoryview) -> list[RowPair] | None:
        """A row event's (before, after) rows, decoded natively from its row images, as
        ``from_binlog`` makes them of the library's rows; None without a native decoder."""
        if self.native is None:
            return None
        return self.native.decode(image, _NATIVE_OPS[op])

    def from_text(self, values: Sequence[Any]) -> dict[str, Any]:
        """A row of a SELECT of every column in order (text, or bytes for binary columns)."""
        if len(values) != len(self.columns):
            raise ValueError(f"{len(values)} values for {len(self.columns)} columns")
        return self._convert(values, [t.from_text for t in self.types])

    def from_text_rows(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """``from_text`` of many rows (the snapshot's chunks)."""
        converters = [t.from_text for t in self.types]
        width = len(self.columns)
        for values in rows:
            if len(values) != width:
                raise ValueError(f"{len(values)} values for {width} columns")
        return [self._convert(values, converters) for values in rows]

    def _convert(self, values: Sequence[Any], converters: list[Converter]) -> dict[str, Any]:
        # the hot path of both readers: one dict comprehension; a failure is attributed to
        # its column afterwards, by converting column by column
        try:
            return {
                name: None if value is None else convert(value)
                for name, convert, value in zip(
                    self.schema.field_names, converters, values, strict=True
                )
            }
        except (ValueError, TypeError, ArithmeticError, UnicodeError):
            return {
                c.name: _convert(c, convert, v)
                for c, convert, v in zip(self.columns, converters, values, strict=True)
            }

    def key_of(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        return {name: row[name] for name in self.key} if self.key else None


def _convert(column: SourceColumn, convert: Any, value: Any) -> Any:
    if value is None:
        return None
    try:
        return convert(value)
    except ValueConversionError:
        raise
    except (ValueError, TypeError, ArithmeticError, UnicodeError) as exc:
        raise ValueConversionError(column.name, column.describe(), value, str(exc)) from exc


_NATIVE_OPS = {Op.CREATE: WRITE, Op.DELETE: DELETE, Op.UPDATE: UPDATE}


def table_codec(
    table: TableId,
    columns: Sequence[SourceColumn],
    key: Sequence[str],
    wire: Sequence[WireColumn] = (),
) -> TableCodec:
    """The codec of ``table`` with ``columns`` (in order) and primary ``key`` (in key order);
    with the columns' binlog layout (``wire``), also their native row decoder if there is one."""
    types = tuple(resolve(c) for c in columns)
    schema_columns = tuple(
        Column(c.name, t.avro_type, _nullable(c, key), t.sql_type, _typed(c.default, t))
        for c, t in zip(columns, types, strict=True)
    )
    schema = TableSchema(table, schema_columns, tuple(key))
    native = row_decoder(columns, types, wire) if wire else None
    return TableCodec(schema, tuple(columns), types, native)


def _typed(default: Default | None, column_type: ColumnType) -> Default | None:
    """A constant default's text as the column's Avro default; not a constant after all if
    the column's type or Avro cannot hold it (a catalog default that no longer fits)."""
    if default is None or not default.constant or default.value is None:
        return default
    try:
        value = column_type.from_text(default.value)
        return Default(default.expression, True, avro_default(column_type.avro_type, value))
    except (StranglerError, ValueError, TypeError):
        return Default(default.expression)


def _nullable(column: SourceColumn, key: Sequence[str]) -> bool:
    if column.name in key:
        return False
    # zero dates are published as NULL, so a NOT NULL date column may still carry NULL
    return column.nullable or column.data_type in ZERO_DATE_TYPES
