"""Engine-neutral table schemas and the Avro key and value records built from them.

A connector describes each table as a ``TableSchema`` (columns with their Avro types, and the
key columns); this module turns it into the two record schemas a table topic needs and renames
rows to the records' field names. It knows nothing of PostgreSQL or MySQL.

Records: ``<namespace>.<schema>.<table>.Key`` and ``….Value`` (every part sanitised by
``avro_name``). Value fields of nullable columns are ``["null", T]`` with default null; key
fields are never nullable (a key column holding NULL cannot be published as a key).

A NOT NULL column whose source default is a constant (``DEFAULT 'basic'``, ``DEFAULT 0``)
carries that constant as its value field's Avro default, so adding such a column is a
backward-compatible change: a reader of the new schema fills the default into older records.
A default the source computes (``now()``, ``nextval(…)``) has no Avro equivalent; the field
then has no default, and ``Default.expression`` names it in the refusal's message.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
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
class Default:
    """A column's default in the source."""

    expression: str
    """As the source states it (``'basic'::text``, ``now()``), for messages."""
    constant: bool = False
    """True when it is a constant that ``value`` holds."""
    value: Any = None
    """The Avro default: the constant in the JSON form of the column's Avro type (see
    ``avro_default``); hashable (no arrays or maps)."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """The column's name exactly as the source spells it."""
    avro_type: AvroType
    """Its Avro type, without null (nullability is ``nullable``)."""
    nullable: bool = True
    source_type: str = ""
    """The source's type name (``numeric(10,2)``), for messages and docs."""
    default: Default | None = None
    """The source's default for the column, if it has one."""


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
    """The value record: every column, nullable ones as ``["null", T]`` defaulting to null,
    NOT NULL ones with a constant source default defaulting to it."""
    fields = [_field(table, c, c.nullable, defaults=True) for c in table.columns]
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


def _field(
    table: TableSchema, column: Column, is_nullable: bool, *, defaults: bool = False
) -> dict[str, Any]:
    name = table.field_names[column.name]
    spec: dict[str, Any] = {"name": name}
    if is_nullable:
        spec.update(type=nullable(column.avro_type), default=None)
    else:
        spec["type"] = column.avro_type
        default = column.default
        if defaults and default is not None and default.constant and default.value is not None:
            spec["default"] = default.value  # (NULL is no default for a NOT NULL column)
    if name != column.name:
        spec[ORIGINAL_NAME] = column.name
    return spec


def _record(
    table: TableSchema, namespace: str, name: str, fields: list[dict[str, Any]]
) -> dict[str, Any]:
    space = avro_namespace(*namespace.split("."), table.table.schema, table.table.name)
    return {"type": "record", "name": name, "namespace": space, "fields": fields}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT32 = range(-(2**31), 2**31)


def avro_default(avro_type: AvroType, value: Any) -> Any:
    """``value`` (a Python value as fastavro writes it for ``avro_type``) as an Avro field
    default: the JSON form the Avro specification gives defaults (``bytes`` as a string of
    code points 0-255; logical types as their underlying int, long or bytes). Raises
    ``ValueError`` for a value the type cannot hold and for types without a simple default
    form (records, arrays, maps, unions, time zones beyond UTC offsets)."""
    if isinstance(avro_type, dict):
        logical = _LOGICAL.get(str(avro_type.get("logicalType")))
        if logical is not None:
            return logical(avro_type, value)
        return avro_default(avro_type.get("type", ""), value)
    primitive = _PRIMITIVES.get(avro_type) if isinstance(avro_type, str) else None
    if primitive is None:
        raise ValueError(f"no simple Avro default for type {avro_type!r}")
    return primitive(value)


def _expect(value: Any, kind: type | tuple[type, ...], avro_type: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{value!r} is not a valid {avro_type} default")


def _int(value: Any) -> int:
    _expect(value, int, "int")
    if value not in _INT32:
        raise ValueError(f"{value} does not fit an Avro int")
    return int(value)


def _long(value: Any) -> int:
    _expect(value, int, "long")
    return int(value)


def _double(value: Any) -> float:
    _expect(value, (int, float), "double")
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written as a JSON default")
    return float(value)


def _boolean(value: Any) -> bool:
    _expect(value, bool, "boolean")
    return bool(value)


def _string(value: Any) -> str:
    _expect(value, str, "string")
    return str(value)


def _bytes(value: Any) -> str:
    _expect(value, (bytes, bytearray), "bytes")
    return bytes(value).decode("latin-1")


_PRIMITIVES: dict[str, Callable[[Any], Any]] = {
    "null": lambda v: _expect(v, type(None), "null"),
    "boolean": _boolean,
    "int": _int,
    "long": _long,
    "float": _double,
    "double": _double,
    "string": _string,
    "bytes": _bytes,
}


def _date(_type: Mapping[str, Any], value: Any) -> int:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a date")
    return (value - date(1970, 1, 1)).days


def _since_epoch(value: Any) -> timedelta:
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a timestamp")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware - _EPOCH


def _time_since_midnight(value: Any) -> timedelta:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ValueError(f"{value!r} is not a time of day")
    return timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )


def _decimal(avro_type: Mapping[str, Any], value: Any) -> str:
    if avro_type.get("type") != "bytes" or not isinstance(value, Decimal | int):
        raise ValueError(f"no simple Avro default for {value!r} as {avro_type!r}")
    unscaled = Decimal(value).scaleb(int(avro_type.get("scale", 0)))
    if unscaled != unscaled.to_integral_value():
        raise ValueError(f"{value} has more digits after the point than the decimal's scale")
    number = int(unscaled)
    size = (number + (number < 0)).bit_length() // 8 + 1
    return number.to_bytes(size, "big", signed=True).decode("latin-1")


def _uuid(_type: Mapping[str, Any], value: Any) -> str:
    if not isinstance(value, uuid.UUID | str):
        raise ValueError(f"{value!r} is not a uuid")
    return str(uuid.UUID(str(value)))


_MICRO = timedelta(microseconds=1)
_MILLI = timedelta(milliseconds=1)
_LOGICAL: dict[str, Callable[[Mapping[str, Any], Any], Any]] = {
    "date": _date,
    "timestamp-micros": lambda _t, v: _since_epoch(v) // _MICRO,
    "timestamp-millis": lambda _t, v: _since_epoch(v) // _MILLI,
    "time-micros": lambda _t, v: _time_since_midnight(v) // _MICRO,
    "time-millis": lambda _t, v: _time_since_midnight(v) // _MILLI,
    "decimal": _decimal,
    "uuid": _uuid,
}
