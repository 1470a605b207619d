"""Avro types → SQL column types and value conversions, for SQLite and PostgreSQL (a table).

| Avro                        | SQLite  | PostgreSQL         | stored as (SQLite)            |
|-----------------------------|---------|--------------------|-------------------------------|
| boolean                     | INTEGER | boolean            | 0 / 1                         |
| int / long                  | INTEGER | integer / bigint   |                               |
| float / double              | REAL    | real / double prec.|                               |
| string, enum                | TEXT    | text               |                               |
| bytes, fixed                | BLOB    | bytea              |                               |
| decimal(p, s)               | TEXT    | numeric(p, s)      | exact text ``"12.30"``        |
| date                        | TEXT    | date               | ``2024-05-01``                |
| time-millis / time-micros   | TEXT    | time               | ``13:45:00.123456``           |
| timestamp-millis / -micros  | TEXT    | timestamptz        | ``2024-05-01T13:45:00+00:00`` |
| local-timestamp-*           | TEXT    | timestamp          | ``2024-05-01T13:45:00``       |
| uuid                        | TEXT    | uuid               | canonical text                |
| array, map, record, union   | TEXT    | jsonb              | JSON text                     |

SQLite keeps decimals, dates and times as ISO text: exact, and ordered like the values.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from psycopg.types.json import Jsonb

from strangler.core.avro import AvroType
from strangler.materializers._speedups import isoformat as _iso  # value.isoformat(), in C

Convert = Callable[[Any], Any] | None
"""Python value (as fastavro decodes it, never None) → database parameter; None = as is."""


class Dialect(StrEnum):
    """The SQL flavour of a view database."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True, slots=True)
class SqlType:
    """A column's declared type and how its values are converted, per dialect."""

    sqlite: str
    postgres: str
    to_sqlite: Convert = None
    to_postgres: Convert = None

    def name(self, dialect: Dialect) -> str:
        return self.sqlite if dialect is Dialect.SQLITE else self.postgres

    def converter(self, dialect: Dialect) -> Convert:
        return self.to_sqlite if dialect is Dialect.SQLITE else self.to_postgres


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.date | datetime.time | datetime.datetime):
        return value.isoformat()
    return str(value)  # Decimal, UUID


def to_json(value: Any) -> str:
    """JSON text of a decoded complex value (bytes as hex, dates ISO, decimals exact)."""
    return json.dumps(value, default=_json_default, separators=(",", ":"), sort_keys=True)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=to_json)


_JSON = SqlType("TEXT", "jsonb", to_json, _jsonb)
_TEXT = SqlType("TEXT", "text")

_PRIMITIVES: dict[str, SqlType] = {
    "boolean": SqlType("INTEGER", "boolean", int),
    "int": SqlType("INTEGER", "integer"),
    "long": SqlType("INTEGER", "bigint"),
    "float": SqlType("REAL", "real"),
    "double": SqlType("REAL", "double precision"),
    "string": _TEXT,
    "enum": _TEXT,
    "bytes": SqlType("BLOB", "bytea"),
    "fixed": SqlType("BLOB", "bytea"),
}

_LOGICAL: dict[str, SqlType] = {
    "date": SqlType("TEXT", "date", _iso),
    "time-millis": SqlType("TEXT", "time", _iso),
    "time-micros": SqlType("TEXT", "time", _iso),
    "timestamp-millis": SqlType("TEXT", "timestamptz", _iso),
    "timestamp-micros": SqlType("TEXT", "timestamptz", _iso),
    "local-timestamp-millis": SqlType("TEXT", "timestamp", _iso),
    "local-timestamp-micros": SqlType("TEXT", "timestamp", _iso),
    "uuid": SqlType("TEXT", "uuid", str),
}


def _decimal(avro_type: dict[str, Any]) -> SqlType:
    precision, scale = avro_type.get("precision", 0), avro_type.get("scale", 0)
    pg = f"numeric({precision}, {scale})" if 0 < precision <= 1000 else "numeric"
    return SqlType("TEXT", pg, _decimal_text)


def _decimal_text(value: decimal.Decimal) -> str:
    return str(value)


def without_null(avro_type: AvroType) -> AvroType:
    """``T`` for ``["null", T]``; other types unchanged."""
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        return rest[0] if len(rest) == 1 else rest
    return avro_type


def sql_type(avro_type: AvroType) -> SqlType:
    """The column type for an Avro type (nullability aside)."""
    avro_type = without_null(avro_type)
    if isinstance(avro_type, list):
        return _JSON
    if isinstance(avro_type, str):
        return _PRIMITIVES.get(avro_type, _JSON)
    logical = avro_type.get("logicalType")
    if logical == "decimal" and avro_type.get("type") in ("bytes", "fixed"):
        return _decimal(avro_type)
    if isinstance(logical, str) and logical in _LOGICAL:
        return _LOGICAL[logical]
    base = avro_type.get("type")
    return _PRIMITIVES.get(base, _JSON) if isinstance(base, str) else _JSON


_WIDER: dict[str, tuple[str, ...]] = {
    "int": ("long", "float", "double"),
    "long": ("float", "double"),
    "float": ("double",),
}


def _plain(avro_type: AvroType) -> Any:
    """A comparable form of a type: names of primitives, the dict otherwise."""
    return avro_type if isinstance(avro_type, str) else json.dumps(avro_type, sort_keys=True)


def widening(old: AvroType, new: AvroType) -> bool | None:
    """True if ``new`` widens ``old`` (Avro promotion), False if equal, None if incompatible."""
    old, new = without_null(old), without_null(new)
    if _plain(old) == _plain(new):
        return False
    if isinstance(old, str) and isinstance(new, str) and new in _WIDER.get(old, ()):
        return True
    if isinstance(old, dict) and isinstance(new, dict) and _decimal_widens(old, new):
        return True
    return None


def _decimal_widens(old: dict[str, Any], new: dict[str, Any]) -> bool:
    both = old.get("logicalType") == new.get("logicalType") == "decimal"
    same_scale = old.get("scale", 0) == new.get("scale", 0)
    return both and same_scale and new.get("precision", 0) >= old.get("precision", 0)
