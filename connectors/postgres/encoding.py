"""A ``TableSerializer`` for the hot path: one specialised encoder per table schema.

``TableSerializer`` looks its encoder up by the schema's JSON text, which it rebuilds for every
row, and encodes through fastavro's generic writer; at tens of thousands of rows per second both
cost more than the rest of the pipeline. The connector hands the same ``TableSchema`` object for
every row of a table until the table changes, so this subclass builds, once per schema object, a
list of small per-field writers (column name → Avro binary) for the field types rows actually
have: null unions, boolean, int/long, float/double, string (uuid), bytes, and the logical types
decimal (bytes), date, time-micros and timestamp-micros. The bytes are exactly fastavro's (a unit
test compares them type by type).

A schema with any other field type (arrays, records, enums…) keeps fastavro for every row. A
writer never guesses: a value of another Python type raises inside it, and the row is then
encoded by ``TableSerializer`` itself, which either writes it (a type fastavro accepts and the
writers do not) or raises its error: a ``NotData`` placeholder (an unchanged TOAST value), a
NULL key column, a decimal with more fraction digits than its scale.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from strangler.connectors.serialization import MAGIC, TableSerializer
from strangler.core import avro
from strangler.core.events import Row
from strangler.core.schema import TableSchema, key_schema, value_schema

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_DAYS_SHIFT = date(1970, 1, 1).toordinal()

Writer = Callable[[Any], bytes]
"""One field's value → its Avro binary; raises for a value it does not take as is."""


class _NotMine(Exception):
    """A value the writers leave to ``TableSerializer`` (it writes it or explains the refusal)."""


def _varint_table(size: int) -> tuple[bytes, ...]:
    return tuple(_varint(z) for z in range(size))


def _varint(z: int) -> bytes:
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL = _varint_table(1 << 14)
"""Varints of 0 … 16383 (zig-zag longs of -8192 … 8191, lengths up to 16 KiB), precomputed."""
_LOW = tuple(bytes([(z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80]) for z in range(1 << 14))
"""The two bytes of 14 low-order bits of a longer varint (continuation bits set)."""


def _long_varint(z: int) -> bytes:
    """A varint of ``z`` ≥ 16384, 14 bits a table lookup (timestamps in microseconds take 8
    bytes; a loop over 7-bit groups costs more than the rest of the row)."""
    if z < 1 << 28:
        return _LOW[z & 0x3FFF] + _SMALL[z >> 14]
    if z < 1 << 42:
        return _LOW[z & 0x3FFF] + _LOW[(z >> 14) & 0x3FFF] + _SMALL[z >> 28]
    if z < 1 << 56:
        return (
            _LOW[z & 0x3FFF] + _LOW[(z >> 14) & 0x3FFF] + _LOW[(z >> 28) & 0x3FFF] + _SMALL[z >> 42]
        )
    return _varint(z)


def write_long(n: int) -> bytes:
    """An Avro int or long: zig-zag, then a varint."""
    z = (n << 1) ^ (n >> 63)
    if 0 <= z < 16384:
        return _SMALL[z]
    if not -(1 << 63) <= n < 1 << 63:
        raise _NotMine  # not a long: left to fastavro
    return _long_varint(z)


def _write_boolean(value: Any) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise _NotMine


_FLOAT = struct.Struct("<f").pack
_DOUBLE = struct.Struct("<d").pack


def _write_float(value: Any) -> bytes:
    data: bytes = _FLOAT(value)
    return data


def _write_double(value: Any) -> bytes:
    data: bytes = _DOUBLE(value)
    return data


def _write_bytes(value: Any) -> bytes:
    if value.__class__ is not bytes:
        raise _NotMine
    return write_long(len(value)) + value


def _write_string(value: Any) -> bytes:
    data: bytes = value.encode()  # str only (bytes has no encode)
    return write_long(len(data)) + data


def _write_uuid(value: Any) -> bytes:
    return _write_string(str(value) if isinstance(value, UUID) else value)


def _write_date(value: Any) -> bytes:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _NotMine
    return write_long(value.toordinal() - _DAYS_SHIFT)


def _write_time_micros(value: Any) -> bytes:
    if value.__class__ is not time:
        raise _NotMine
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return write_long(seconds * 1_000_000 + value.microsecond)


def _write_timestamp_micros(value: Any) -> bytes:
    if not isinstance(value, datetime):
        raise _NotMine
    delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
    return write_long((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _decimal_writer(scale: int) -> Writer:
    powers = tuple(10**n for n in range(scale + 1))

    def write(value: Any) -> bytes:
        """The unscaled integer from the decimal's text (``Decimal.as_tuple`` costs five times
        as much); a text in exponent form, NaN, -0 or more fraction digits than the scale
        (fastavro refuses those) goes to ``TableSerializer``."""
        if value.__class__ is not Decimal:
            raise _NotMine
        text = str(value)
        point = text.find(".")
        fraction = 0 if point < 0 else len(text) - point - 1
        if fraction > scale or "E" in text:
            raise _NotMine
        signed = int(text.replace(".", "")) * powers[scale - fraction]  # ValueError: NaN
        if signed == 0 and text[0] == "-":
            raise _NotMine
        size = (abs(signed).bit_length() + 8) // 8
        data: bytes = signed.to_bytes(size, "big", signed=True)
        return _SMALL[size << 1] + data if size < 8192 else write_long(size) + data

    return write


def _nullable(inner: Writer) -> Writer:
    def write(value: Any) -> bytes:
        return b"\x00" if value is None else b"\x02" + inner(value)

    return write


_PLAIN: dict[str, Writer] = {
    avro.BOOLEAN: _write_boolean,
    avro.INT: write_long,
    avro.LONG: write_long,
    avro.FLOAT: _write_float,
    avro.DOUBLE: _write_double,
    avro.BYTES: _write_bytes,
    avro.STRING: _write_string,
}
_LOGICAL: dict[tuple[str, str], Writer] = {
    ("int", "date"): _write_date,
    ("long", "time-micros"): _write_time_micros,
    ("long", "timestamp-micros"): _write_timestamp_micros,
    ("string", "uuid"): _write_uuid,
}


def field_writer(avro_type: Any) -> Writer | None:
    """The writer of values of ``avro_type`` (JSON form); None for types left to fastavro."""
    if isinstance(avro_type, str):
        return _PLAIN.get(avro_type)
    if isinstance(avro_type, list):
        if len(avro_type) == 2 and avro_type[0] == avro.NULL:
            inner = field_writer(avro_type[1])
            return None if inner is None else _nullable(inner)
        return None
    logical = avro_type.get("logicalType")
    if logical == "decimal" and avro_type.get("type") == avro.BYTES:
        return _decimal_writer(int(avro_type.get("scale", 0)))
    if logical is None:
        return field_writer(avro_type.get("type")) if avro_type.get("type") != "record" else None
    return _LOGICAL.get((avro_type.get("type"), logical))


RecordWriter = Callable[[Row], bytes]
"""Encodes a row (column name → value) as one Avro record, in Confluent framing."""


def _nullable_inner(avro_type: Any) -> Any:
    """``T`` of a ``["null", T]`` union, else None."""
    if isinstance(avro_type, list) and len(avro_type) == 2 and avro_type[0] == avro.NULL:
        return avro_type[1]
    return None


def record_writer(
    schema_id: int, schema: dict[str, Any], columns: list[str]
) -> RecordWriter | None:
    """The writer of records of ``schema`` (fields in the order of ``columns``); None if a
    field's type is left to fastavro.

    It is one generated function, ``b"".join((prefix, w0(get(c0)), …))`` with the null
    branch of nullable fields inline: a loop over per-field closures costs twice as much. Only
    names go into the generated text; column names and writers are in its namespace."""
    namespace: dict[str, Any] = {"prefix": struct.pack(">bI", MAGIC, schema_id)}
    parts = []
    for i, (column, field) in enumerate(zip(columns, schema["fields"], strict=True)):
        inner = _nullable_inner(field["type"])
        write = field_writer(field["type"] if inner is None else inner)
        if write is None:
            return None
        namespace[f"c{i}"], namespace[f"w{i}"] = column, write
        if inner is None:
            parts.append(f"w{i}(get(c{i}))")
        else:
            parts.append(f'(b"\\x00" if (v{i} := get(c{i})) is None else b"\\x02" + w{i}(v{i}))')
    source = "def write(row):\n    get = row.get\n    return b''.join((prefix, {}))\n"
    exec(source.format(", ".join(parts)), namespace)  # generated from names only, see above
    writer: RecordWriter = namespace["write"]
    return writer


@dataclass(frozen=True, slots=True)
class _Fast:
    schema: TableSchema
    """Kept so the ``id()`` the cache is keyed by stays this object's."""
    key: RecordWriter | None
    value: RecordWriter | None
    key_id: int
    value_id: int


_LEFT_TO_FASTAVRO = (_NotMine, TypeError, AttributeError, ValueError, OverflowError, struct.error)
"""What a writer raises for a value it does not take (a placeholder, another Python type)."""


def _written(write: RecordWriter | None, row: Row) -> bytes | None:
    """The row as written by ``write``; None if there is no writer or it leaves the row to
    ``TableSerializer`` (an encoded record is never empty: it starts with the framing)."""
    if write is None:
        return None
    try:
        return write(row)
    except _LEFT_TO_FASTAVRO:
        return None


class FastTableSerializer(TableSerializer):
    """``TableSerializer`` with specialised encoders cached per ``TableSchema`` object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast: dict[tuple[str, int], _Fast] = {}

    def key(self, topic: str, table: TableSchema, key: Row) -> bytes:
        return _written(self._lookup(topic, table).key, key) or super().key(topic, table, key)

    def value(self, topic: str, table: TableSchema, row: Row | None) -> bytes | None:
        if row is None:
            return None
        written = _written(self._lookup(topic, table).value, row)
        return written or super().value(topic, table, row)

    def schema_ids(self, topic: str, table: TableSchema) -> tuple[int, int]:
        """The registry ids of the key and value schemas of ``table`` (registered if new)."""
        fast = self._lookup(topic, table)
        return fast.key_id, fast.value_id

    def _lookup(self, topic: str, table: TableSchema) -> _Fast:
        fast = self._fast.get((topic, id(table)))
        if fast is None:
            fast = self._fast[(topic, id(table))] = self._build(topic, table)
        return fast

    def _build(self, topic: str, table: TableSchema) -> _Fast:
        key = key_schema(table, self._namespace)
        value = value_schema(table, self._namespace)
        key_id = self._encoder(topic, "key", key).schema_id
        value_id = self._encoder(topic, "value", value).schema_id
        columns = [c.name for c in table.columns]
        return _Fast(
            table,
            record_writer(key_id, key, list(table.key)),
            record_writer(value_id, value, columns),
            key_id,
            value_id,
        )
