"""A ``TableSerializer`` for the hot path: encoders resolved once per table schema.

``TableSerializer`` looks its encoder up by the schema's JSON text, which it rebuilds for every
row; at tens of thousands of rows per second that lookup costs more than the Avro encoding
itself. The connector hands the same ``TableSchema`` object for every row of a table until the
table changes, so this subclass caches the encoders (and the column → field renaming) per
schema object. Registration, wire format and the refusal of placeholders are unchanged: rows
holding a ``NotData`` marker go through ``TableSerializer`` and fail there, with its message.

Logical types of top-level columns (decimal, timestamp-micros, date) are converted here to
what fastavro would write for them (the unscaled two's-complement bytes, microseconds, days):
fastavro's own conversion costs more than encoding the rest of the row. Values it would refuse
(more fraction digits than the scale, non-finite decimals) are left to fastavro, which raises.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro

from strangler.connectors.postgres.messages import UNCHANGED_TOAST
from strangler.connectors.serialization import MAGIC, TableSerializer
from strangler.core import avro
from strangler.core.events import Row
from strangler.core.schema import TableSchema, key_schema, value_schema

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_DAYS_SHIFT = date(1970, 1, 1).toordinal()

Convert = Callable[[Any], Any]


def _timestamp_micros(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _days(value: Any) -> Any:
    return value.toordinal() - _DAYS_SHIFT if isinstance(value, date) else value


def _decimal_bytes(scale: int) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, Decimal):
            return value
        sign, digits, exponent = value.as_tuple()
        if not isinstance(exponent, int) or -exponent > scale:
            return value  # fastavro raises the error for these
        unscaled = int("".join(map(str, digits)) or "0") * 10 ** (exponent + scale)
        if sign and unscaled == 0:
            return value
        signed = -unscaled if sign else unscaled
        return signed.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)

    return convert


def _converter(avro_type: Any) -> Convert | None:
    """The pre-conversion for a column's Avro type, if it has one."""
    if avro_type == avro.TIMESTAMP_MICROS:
        return _timestamp_micros
    if avro_type == avro.DATE:
        return _days
    is_decimal = isinstance(avro_type, dict) and avro_type.get("logicalType") == "decimal"
    if is_decimal and avro_type.get("type") == avro.BYTES:
        return _decimal_bytes(int(avro_type.get("scale", 0)))
    return None


def _converters(table: TableSchema, columns: Iterable[str]) -> tuple[tuple[str, Convert], ...]:
    found = ((table.field_names[c], _converter(table.column(c).avro_type)) for c in columns)
    return tuple((name, convert) for name, convert in found if convert is not None)


def _convert(record: dict[str, Any], converters: tuple[tuple[str, Convert], ...]) -> None:
    for name, convert in converters:
        value = record[name]
        if value is not None:
            record[name] = convert(value)


@dataclass(frozen=True, slots=True)
class _Fast:
    schema: TableSchema
    """Kept so the ``id()`` the cache is keyed by stays this object's."""
    key_prefix: bytes
    key_parsed: Any
    key_fields: tuple[tuple[str, str], ...]
    value_prefix: bytes
    value_parsed: Any
    value_fields: tuple[tuple[str, str], ...]
    key_converters: tuple[tuple[str, Convert], ...]
    value_converters: tuple[tuple[str, Convert], ...]


def _encode(prefix: bytes, parsed: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO(prefix)
    out.seek(len(prefix))
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


class FastTableSerializer(TableSerializer):
    """``TableSerializer`` with encoders cached per ``TableSchema`` object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast: dict[tuple[str, int], _Fast] = {}

    def key(self, topic: str, table: TableSchema, key: Row) -> bytes:
        fast = self._lookup(topic, table)
        record = {name: key.get(column) for column, name in fast.key_fields}
        if None in record.values() or UNCHANGED_TOAST in record.values():
            return super().key(topic, table, key)  # raises the explanatory error
        _convert(record, fast.key_converters)
        return _encode(fast.key_prefix, fast.key_parsed, record)

    def value(self, topic: str, table: TableSchema, row: Row | None) -> bytes | None:
        if row is None:
            return None
        if UNCHANGED_TOAST in row.values():
            return super().value(topic, table, row)  # raises the explanatory error
        fast = self._lookup(topic, table)
        record = {name: row.get(column) for column, name in fast.value_fields}
        _convert(record, fast.value_converters)
        return _encode(fast.value_prefix, fast.value_parsed, record)

    def _lookup(self, topic: str, table: TableSchema) -> _Fast:
        fast = self._fast.get((topic, id(table)))
        if fast is None:
            fast = self._fast[(topic, id(table))] = self._build(topic, table)
        return fast

    def _build(self, topic: str, table: TableSchema) -> _Fast:
        key = self._encoder(topic, "key", key_schema(table, self._namespace))
        value = self._encoder(topic, "value", value_schema(table, self._namespace))
        names = table.field_names
        return _Fast(
            table,
            struct.pack(">bI", MAGIC, key.schema_id), key.parsed,
            tuple((k, names[k]) for k in table.key),
            struct.pack(">bI", MAGIC, value.schema_id), value.parsed,
            tuple((c.name, names[c.name]) for c in table.columns),
            _converters(table, table.key),
            _converters(table, (c.name for c in table.columns)),
        )  # fmt: skip
