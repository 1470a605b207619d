"""Canonical rows for ``strangler verify``: one text form per value, whatever database holds it.

The canonical form of a value is *the value as the SQLite view stores it, written as text*: a
source value (psycopg, pymysql or Avro-decoded Python value) is first brought to the Python
value the connector publishes (``avro_value``), converted by the materializer's own SQLite
converter (``columns.sql_type(...).to_sqlite``), then written as text (``stored_text``):

| stored as | text                                                                |
|-----------|---------------------------------------------------------------------|
| INTEGER   | decimal digits (booleans are 0 / 1)                                 |
| REAL      | ``repr`` of the float (an Avro ``float`` rounded to 32 bits first)  |
| TEXT      | itself (decimals ``12.30``, ISO dates and times, JSON, uuids)       |
| BLOB      | lower-case hex                                                      |
| NULL      | no text (``\\N`` in a line)                                         |

A row is one *line*: its canonical values in column order (key columns first), separated by
tabs, escaped exactly as PostgreSQL's ``COPY ... TO STDOUT`` text format escapes them
(backslash, ``\\b \\f \\n \\r \\t \\v``; NULL is ``\\N``). So a PostgreSQL side can produce
its lines with ``COPY`` of SQL expressions (``pg_expression``) and a SQLite side with one SQL
expression per row (``sqlite_line``), both without a Python object per value; types that SQL
cannot write canonically (floats, times, JSON, decimals with scale above 6) are selected raw
and finished in Python (``Column.finish``).

Key order: lines are compared range by range in key order. ``order_value`` turns a key field's
text back into a value that sorts in Python the way both databases sort it (``order_sql`` /
``sqlite_order`` make the databases sort that way: text keys byte-wise, decimals numerically).
"""

from __future__ import annotations

import datetime
import decimal
import re
import struct
import uuid
from collections.abc import Callable
from typing import Any

from strangler.core.avro import AvroType
from strangler.materializers.columns import sql_type, to_json, without_null

NULL = "\\N"
"""A NULL value in a line (COPY text format)."""

_ESCAPES = {
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)
_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}

_FLOAT32 = struct.Struct("<f")
_MAX_TEXT_SCALE = 6
"""PostgreSQL's numeric text equals ``str(Decimal(text))`` up to this scale (beyond it, Python
writes small values as ``1E-7``)."""


def escape(text: str) -> str:
    """``text`` escaped as COPY text format escapes a value."""
    return text.translate(_ESCAPE_TABLE)


def unescape(field: str) -> str | None:
    """A field of a line back to its text (None for NULL)."""
    if field == NULL:
        return None
    if "\\" not in field:
        return field
    return _UNESCAPE.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), field)


def split_line(line: str) -> list[str | None]:
    """A line's fields, unescaped."""
    return [unescape(f) for f in line.split("\t")]


def stored_text(value: Any) -> str | None:
    """A value as SQLite stores it (int, float, str, bytes), written as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _kind(avro_type: AvroType) -> str:
    """The Avro type's logical type, else its base type name ("json" for complex types)."""
    bare = without_null(avro_type)
    if isinstance(bare, str):
        return bare if bare not in ("array", "map", "record") else "json"
    if isinstance(bare, list):
        return "json"
    logical = bare.get("logicalType")
    if isinstance(logical, str) and (logical != "decimal" or bare.get("type") != "string"):
        return logical
    base = bare.get("type")
    return base if isinstance(base, str) and base not in ("array", "map", "record") else "json"


def _scale(avro_type: AvroType) -> int:
    bare = without_null(avro_type)
    return int(bare.get("scale", 0)) if isinstance(bare, dict) else 0


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:  # a wall-clock timestamp is published as UTC
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


def _time(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):  # MySQL's TIME arrives as a duration
        return (datetime.datetime.min + value).time()
    return value


def _float32(value: Any) -> float:
    return float(_FLOAT32.unpack(_FLOAT32.pack(float(value)))[0])


def _decimal(value: Any) -> decimal.Decimal:
    return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))


_TO_AVRO: dict[str, Callable[[Any], Any]] = {
    "boolean": lambda v: bool(v),
    "int": int,
    "long": int,
    "float": _float32,
    "double": float,
    "decimal": _decimal,
    "timestamp-millis": lambda v: _utc(v) if isinstance(v, datetime.datetime) else v,
    "timestamp-micros": lambda v: _utc(v) if isinstance(v, datetime.datetime) else v,
    "time-millis": _time,
    "time-micros": _time,
    "uuid": lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)),
    "bytes": bytes,
    "fixed": bytes,
}


def avro_value(avro_type: AvroType, value: Any) -> Any:
    """A driver's value as the Python value the connector publishes for ``avro_type`` (what
    the materializer's converters and row filters see)."""
    if value is None:
        return None
    convert = _TO_AVRO.get(_kind(avro_type))
    return value if convert is None else convert(value)


def _kept(value: Any) -> Any:
    return value


def canonical_function(avro_type: AvroType) -> Callable[[Any], str | None]:
    """Driver value → canonical text, for one Avro type."""
    to_sqlite = sql_type(avro_type).to_sqlite or _kept
    kind = _kind(avro_type)
    if kind == "json":
        # PostgreSQL's jsonb arrives parsed; a SQLite view stores JSON text already
        return lambda v: None if v is None else v if isinstance(v, str) else to_json(v)
    return lambda v: None if v is None else stored_text(to_sqlite(avro_value(avro_type, v)))


def stored_function(avro_type: AvroType) -> Callable[[Any], str | None]:
    """A SQLite view's stored value → canonical text."""
    if _kind(avro_type) == "float":
        return lambda v: None if v is None else repr(_float32(v))
    return stored_text


_TIMESTAMP_SQL = "replace(to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
"""``datetime.isoformat()`` without the offset: microseconds only when there are some (the
date and time parts hold no dot, so only the fraction can be ``.000000``)."""
_INFINITE_SQL = (
    "CASE WHEN isfinite({c}) THEN {finite} WHEN {c} > 'epoch' THEN '{high}' "
    "WHEN {c} < 'epoch' THEN '{low}' END"
)
"""PostgreSQL's ``infinity`` and ``-infinity`` are published as Python's largest and smallest
values (see the connector's ``pgtext``); NULL stays NULL (no ELSE)."""
_DATE_RANGE = ("9999-12-31", "0001-01-01")
_TIMESTAMP_RANGE = ("9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00")


def _finite(column: str, finite: str, extremes: tuple[str, str]) -> str:
    return _INFINITE_SQL.format(c=column, finite=finite, high=extremes[0], low=extremes[1])


_FREE_TEXT = {"string", "enum", "json"}
"""Kinds whose text may hold any character."""
_PG_TEXT = {"int", "long", "string", "enum", "uuid"}


def pg_expression(avro_type: AvroType, column: str, *, copy: bool = True) -> str | None:
    """A PostgreSQL expression giving the canonical text of ``column`` (quoted) under the
    session settings of ``PG_SESSION``; None when Python must finish the value. With ``copy``
    the rows travel through COPY, which writes a bare column with the type's output function
    (exactly the text logical replication sends: ``char(n)`` keeps its padding, unlike
    ``::text``)."""
    kind = _kind(avro_type)
    if kind in _PG_TEXT or (kind == "decimal" and _scale(avro_type) <= _MAX_TEXT_SCALE):
        return column if copy else f"{column}::text"
    if kind == "boolean":
        return f"({column}::int)::text"
    if kind in ("bytes", "fixed"):
        return f"encode({column}, 'hex')"
    if kind == "date":
        return _finite(column, f"{column}::text", _DATE_RANGE)
    if kind in ("timestamp-micros", "timestamp-millis"):
        stamp = _TIMESTAMP_SQL.format(c=column) + " || '+00:00'"
        return _finite(column, stamp, _TIMESTAMP_RANGE)
    if kind in ("local-timestamp-micros", "local-timestamp-millis"):
        return "(" + _TIMESTAMP_SQL.format(c=column) + ")"
    return None


PG_SESSION = {"DateStyle": "ISO", "TimeZone": "UTC", "client_encoding": "UTF8"}
"""Session settings the PostgreSQL expressions rely on."""


_SQLITE_SPECIAL = "'*[' || char(8, 9, 10, 11, 12, 13, 92) || ']*'"
"""GLOB pattern of a text holding a character COPY escapes (most texts hold none)."""


def _sqlite_escaped(column: str) -> str:
    expr = column
    for raw, escaped in _ESCAPES.items():
        code = "'\\'" if raw == "\\" else f"char({ord(raw)})"
        expr = f"replace({expr}, {code}, '{escaped}')"
    return f"CASE WHEN {column} GLOB {_SQLITE_SPECIAL} THEN {expr} ELSE {column} END"


def sqlite_expression(avro_type: AvroType, column: str) -> str | None:
    """A SQLite expression giving the *escaped* canonical text of a stored value (None when
    NULL); None when Python must finish the value (REAL)."""
    storage = sql_type(avro_type).sqlite
    if storage == "INTEGER":
        return f"CAST({column} AS TEXT)"
    if storage == "BLOB":  # hex(NULL) is '', not NULL
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE lower(hex({column})) END"
    if storage == "TEXT":
        # decimals, dates, times and uuids as stored never hold a character to escape
        return _sqlite_escaped(column) if _kind(avro_type) in _FREE_TEXT else column
    return None


_ORDER_TYPES: dict[str, Callable[[str], Any]] = {
    "boolean": int,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "decimal": decimal.Decimal,
}


def order_function(avro_type: AvroType) -> Callable[[str | None], Any]:
    """Canonical key text → a value that sorts like the databases sort the key column."""
    parse = _ORDER_TYPES.get(_kind(avro_type), str)
    return lambda text: parse(text) if text is not None else ""


def text_key(avro_type: AvroType) -> bool:
    """Whether a key column holds text, which databases order by collation unless told to
    compare bytes (Python compares code points: the bytes of UTF-8)."""
    return _kind(avro_type) in ("string", "enum", "uuid")


def pg_order(avro_type: AvroType, column: str) -> str:
    """ORDER BY term for a key column in PostgreSQL: text byte-wise, whatever its collation."""
    return f'({column}::text) COLLATE "C"' if text_key(avro_type) else column


def sqlite_order(avro_type: AvroType, column: str) -> str:
    """ORDER BY term for a key column of a SQLite view (decimals are stored as text)."""
    return f"CAST({column} AS REAL), {column}" if _kind(avro_type) == "decimal" else column


def key_param(avro_type: AvroType, text: str, dialect: str) -> Any:
    """Canonical key text → a query parameter matching the stored key (``dialect``: sqlite,
    postgres or mysql)."""
    kind = _kind(avro_type)
    if kind in ("boolean", "int", "long"):
        return int(text) if dialect != "postgres" or kind != "boolean" else text == "1"
    if kind in ("float", "double"):
        return float(text)
    if kind in ("bytes", "fixed"):
        return bytes.fromhex(text)
    if dialect == "sqlite":
        return text
    if kind == "decimal":
        return decimal.Decimal(text)
    if kind.startswith(("timestamp", "local-timestamp")) and dialect == "mysql":
        return datetime.datetime.fromisoformat(text).replace(tzinfo=None)
    return text
