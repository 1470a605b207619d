"""MySQL/MariaDB column types → Avro types and value converters: one table, keyed by type name.

A column is described the same way whether it comes from ``information_schema.COLUMNS`` (for a
snapshot) or from a binlog TABLE_MAP event (for the stream): a ``SourceColumn`` whose
``data_type`` is ``information_schema``'s spelling (``int``, ``varbinary``, ``uuid``). ``CODECS``
maps that name to a factory that returns the column's ``ColumnType``: its Avro type and two
converters to the Python value fastavro writes, one from what python-mysql-replication decodes
out of the binlog and one from the text (or bytes, for binary columns) of a plain SELECT. Both
paths give equal values for equal data: the round-trip integration test checks every type.

Documented choices:

=============================  ==========================================================
tinyint(1), bool, boolean      Avro ``boolean``: nonzero is true (MySQL's own rule); a
                               tinyint(1) holding 2..127 publishes ``true``.
tinyint/smallint/mediumint,    ``int``
int (signed)
int unsigned, bigint           ``long``
bigint unsigned                ``decimal(20,0)``: 18446744073709551615 does not fit a long;
                               a decimal keeps it exact and numeric (a string would not).
decimal(p,s)                   ``decimal(p,s)``
float / double                 ``float`` / ``double``
bit(1)                         ``boolean``
bit(n), n > 1                  ``bytes``: ceil(n/8) bytes, big-endian (b'101' → b'\\x05').
char, varchar, *text, enum     ``string``. An enum's invalid-value ``''`` stays ``''``.
set                            ``string``: members comma-separated in definition order, as
                               MySQL prints them (empty set → ``''``).
json                           ``string`` holding the JSON text (MariaDB's JSON is longtext).
binary(n), varbinary, *blob    ``bytes``; binary(n) always n bytes (padded with 0x00).
date                           ``date``
datetime(fsp)                  ``timestamp-micros``: the wall-clock value read as UTC (as
                               PostgreSQL's ``timestamp``).
timestamp(fsp)                 ``timestamp-micros``, UTC.
time(fsp)                      ``time-micros`` (as PostgreSQL's ``time``). MySQL's TIME is
                               also a duration (-838:59:59..838:59:59); values outside
                               00:00:00..23:59:59.999999 stop the pipeline with a
                               ``ValueConversionError`` naming the column: never a wrong time.
year                           ``int`` (0 for the year 0000).
uuid (MariaDB)                 ``string`` with logicalType ``uuid``, lower-case text form.
inet6 / inet4 (MariaDB)        ``string``, MariaDB's text form (``2001:db8::1``,
                               ``::ffff:10.0.0.1``, ``10.0.0.1``).
geometry and its subtypes      ``bytes``: the OGC WKB of the value. MySQL stores a 4-byte
                               SRID before the WKB; it is dropped.
=============================  ==========================================================

Zero dates: ``0000-00-00``, ``0000-00-00 00:00:00`` and dates with a zero month or day (allowed
by a permissive ``sql_mode``) have no Avro or Python value. They are published as NULL and a
warning names the column once per process; a NOT NULL column holding one is published as a
nullable field anyway (the column is made nullable in the schema when it is a date type), so
the record stays valid.

Types outside the table (a future server type) are published as ``string`` from their text
form where the server sends text, and are rejected where it sends bytes we cannot interpret.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Any

from strangler.connectors.mysql.errors import ValueConversionError
from strangler.core import avro
from strangler.core.avro import AvroType
from strangler.core.schema import Default

log = logging.getLogger(__name__)

Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """A column as the type mapping needs it, from ``information_schema`` or a TABLE_MAP."""

    name: str
    data_type: str
    """``information_schema.COLUMNS.DATA_TYPE`` spelling, lower case: ``int``, ``uuid``."""
    unsigned: bool = False
    nullable: bool = True
    precision: int = 0
    """Decimal precision, bit width, or binary(n) length."""
    scale: int = 0
    """Decimal scale."""
    display_width: int = 0
    """``tinyint(1)`` → 1 (0: unknown)."""
    labels: tuple[str, ...] = ()
    """Enum or set labels, in definition order."""
    default: Default | None = None
    """The column's default (``information_schema.COLUMNS.COLUMN_DEFAULT``), if it has one; a
    constant's value is still its text (``rows.table_codec`` types it)."""

    def describe(self) -> str:
        return self.data_type + (" unsigned" if self.unsigned else "")


class Form(IntEnum):
    """What the native binlog decoder (``native``, ``_speedups.c``'s ``enum Form``) makes of a
    column's bytes: the value ``from_binlog`` returns, built directly."""

    NONE = 0
    """No native form: a table with such a column keeps the Python path."""
    INT = 1
    BOOL = 2
    """Nonzero → True."""
    DECIMAL = 3
    """A packed decimal, or an integer (bigint unsigned), as ``Decimal``."""
    FLOAT = 4
    BIT = 5
    """bit(1) → bool; bit(n) → ceil(n/8) big-endian bytes."""
    TEXT = 6
    """Strings decoded with the column's charset (bytes as UTF-8); an enum → its label."""
    BYTES = 7
    """Binary strings, right-padded with 0x00 to binary(n)'s width."""
    SET = 8
    DATE = 9
    DATETIME = 10
    TIMESTAMP = 11
    TIME = 12
    YEAR = 13
    GEOMETRY = 14
    HOOK = 15
    """The decoder's string value handed to ``from_binlog`` (UUID, INET6, INET4)."""


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How one column's values are published."""

    sql_type: str
    avro_type: AvroType
    from_binlog: Converter
    """From python-mysql-replication's value (never None: NULLs are not converted)."""
    from_text: Converter
    """From a SELECT's value: ``str`` for text columns, ``bytes`` for binary ones."""
    form: Form = Form.NONE
    """How the native decoder builds ``from_binlog``'s value from the binlog's bytes."""


Factory = Callable[[SourceColumn], ColumnType]

# ---- converters -------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _ZeroDate:
    def __repr__(self) -> str:
        return "ZERO_DATE"


ZERO_DATE = _ZeroDate()
"""Stands for a zero date the binlog decoder could not turn into a date (it gives None)."""
_warned: set[str] = set()


def _zero_date(column: str) -> None:
    if column not in _warned:
        _warned.add(column)
        log.warning("column %r holds a zero date; published as NULL (documented)", column)


def _same(value: Any) -> Any:
    return value


def _to_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _to_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _bool(value: Any) -> bool:
    return int(value) != 0


def _decimal_text(value: Any) -> Decimal:
    return Decimal(value)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:  # zero dates, and dates with a zero month or day
        pass
    year, month, day = (int(part) for part in text.split("-"))
    if year == 0 or month == 0 or day == 0:
        return None
    return date(year, month, day)


def _parse_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:  # zero dates, and dates with a zero month or day
        pass
    day, _, clock = text.partition(" ")
    parsed = _parse_date(day)
    if parsed is None:
        return None
    hms, _, fraction = clock.partition(".")
    hour, minute, second = (int(part) for part in hms.split(":"))
    micros = int((fraction + "000000")[:6])
    return datetime(parsed.year, parsed.month, parsed.day, hour, minute, second, micros, UTC)


def _parse_timedelta(text: str) -> timedelta:
    negative = text.startswith("-")
    hms, _, fraction = text.lstrip("-").partition(".")
    hour, minute, second = (int(part) for part in hms.split(":"))
    value = timedelta(
        hours=hour, minutes=minute, seconds=second, microseconds=int((fraction + "000000")[:6])
    )
    return -value if negative else value


def _bits_to_bytes(bits: str, width: int) -> bytes:
    return int(bits, 2).to_bytes((width + 7) // 8, "big")


def _set_text(labels: tuple[str, ...], members: Collection[str]) -> str:
    return ",".join(label for label in labels if label in members)


def _inet6_text(raw: bytes) -> str:
    address = ipaddress.IPv6Address(raw)
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    head, tail = raw[:12], raw[12:]
    if head == bytes(12) and tail[:2] != b"\x00\x00":
        # IPv4-compatible (deprecated) addresses print with a dotted quad, as inet_ntop does
        return f"::{ipaddress.IPv4Address(tail)}"
    return address.compressed


# ---- factories --------------------------------------------------------------------------------


def _fixed(
    sql_type: str, avro_type: AvroType, binlog: Converter, text: Converter, form: Form
) -> Factory:
    column_type = ColumnType(sql_type, avro_type, binlog, text, form)
    return lambda column: column_type


def _tinyint(column: SourceColumn) -> ColumnType:
    if column.display_width == 1 and not column.unsigned:
        return ColumnType("tinyint(1)", avro.BOOLEAN, _bool, _bool, Form.BOOL)
    return ColumnType(column.describe(), avro.INT, _same, int, Form.INT)


def _int(column: SourceColumn) -> ColumnType:
    if column.unsigned:
        return ColumnType("int unsigned", avro.LONG, _same, int, Form.INT)
    return ColumnType("int", avro.INT, _same, int, Form.INT)


def _bigint(column: SourceColumn) -> ColumnType:
    if column.unsigned:
        return ColumnType("bigint unsigned", avro.decimal(20, 0), Decimal, Decimal, Form.DECIMAL)
    return ColumnType("bigint", avro.LONG, _same, int, Form.INT)


def _decimal(column: SourceColumn) -> ColumnType:
    sql_type = f"decimal({column.precision},{column.scale})"
    avro_type = avro.decimal(column.precision, column.scale)
    return ColumnType(sql_type, avro_type, _same, _decimal_text, Form.DECIMAL)


def _bit(column: SourceColumn) -> ColumnType:
    width = column.precision or 1
    if width == 1:
        return ColumnType(
            "bit(1)", avro.BOOLEAN, lambda v: v == "1", lambda v: v != b"\x00", Form.BIT
        )
    # the binlog decoder gives the bits as a '0'/'1' string, a SELECT gives big-endian bytes
    return ColumnType(
        f"bit({width})",
        avro.BYTES,
        lambda bits: _bits_to_bytes(bits, width),
        lambda raw: bytes(raw).rjust((width + 7) // 8, b"\x00"),
        Form.BIT,
    )


def _binary(column: SourceColumn) -> ColumnType:
    width = column.precision

    def pad(raw: Any) -> bytes:
        # the binlog stores BINARY(n) with its trailing 0x00 bytes stripped; a SELECT returns n
        return _to_bytes(raw).ljust(width, b"\x00")

    return ColumnType(f"binary({width})", avro.BYTES, pad, pad, Form.BYTES)


def _set(column: SourceColumn) -> ColumnType:
    labels = column.labels
    return ColumnType(
        "set", avro.STRING, lambda members: _set_text(labels, members), _to_text, Form.SET
    )


def _zero_checked(name: str, parse: Callable[[Any], Any]) -> Converter:
    def convert(value: Any) -> Any:
        result = parse(value)
        if result is None:
            _zero_date(name)
        return result

    return convert


def _date(column: SourceColumn) -> ColumnType:
    text = _zero_checked(column.name, lambda t: _parse_date(_to_text(t)))
    binlog = _zero_checked(column.name, _real_date)
    return ColumnType("date", avro.DATE, binlog, text, Form.DATE)


def _real_date(value: Any) -> Any:
    return None if value is ZERO_DATE else value


def _datetime(column: SourceColumn) -> ColumnType:
    def binlog(value: Any) -> datetime | None:
        return None if value is ZERO_DATE else value.replace(tzinfo=UTC)

    text = _zero_checked(column.name, lambda t: _parse_datetime(_to_text(t)))
    checked = _zero_checked(column.name, binlog)
    return ColumnType("datetime", avro.TIMESTAMP_MICROS, checked, text, Form.DATETIME)


def _timestamp(column: SourceColumn) -> ColumnType:
    name = column.name

    def binlog(value: datetime) -> datetime | None:
        # A TIMESTAMP is seconds since the epoch; its zero value '0000-00-00 00:00:00' is
        # stored as 0, which the decoder turns into 1970-01-01 00:00:00 (a moment no valid
        # TIMESTAMP can hold: the range starts one second later).
        stamped = value.replace(tzinfo=UTC)
        if stamped == _EPOCH:
            _zero_date(name)
            return None
        return stamped

    text = _zero_checked(name, lambda t: _parse_datetime(_to_text(t)))
    return ColumnType("timestamp", avro.TIMESTAMP_MICROS, binlog, text, Form.TIMESTAMP)


def _time(column: SourceColumn) -> ColumnType:
    name = column.name

    def convert(value: timedelta) -> time:
        if not timedelta(0) <= value < timedelta(days=1):
            raise ValueConversionError(
                name, "time", value, "outside 00:00:00..23:59:59.999999 (Avro time-micros)"
            )
        micros = value // timedelta(microseconds=1)
        seconds, micro = divmod(micros, 1_000_000)
        return time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro)

    def text(value: str) -> time:
        return convert(_parse_timedelta(value))

    return ColumnType("time", avro.TIME_MICROS, convert, text, Form.TIME)


def _year_binlog(value: int) -> int:
    # the binlog stores YEAR as years since 1900; the decoder adds 1900 back, so the year
    # 0000 (stored as 0) arrives as 1900, which no YEAR column can hold (range 1901..2155)
    return 0 if value == 1900 else value


def _uuid_binlog(raw: bytes) -> str:
    # MariaDB's UUID is 16 bytes in the binlog; as a fixed-length binary string its trailing
    # 0x00 bytes are stripped, so pad it back first
    return str(uuid.UUID(bytes=_to_bytes(raw).ljust(16, b"\x00")))


def _inet6_binlog(raw: bytes) -> str:
    return _inet6_text(_to_bytes(raw).ljust(16, b"\x00"))


def _inet4_binlog(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(_to_bytes(raw).ljust(4, b"\x00")))


def _geometry(raw: Any) -> bytes:
    return _to_bytes(raw)[4:]  # drop the SRID MySQL stores before the WKB


def _json_binlog(value: Any) -> str:
    # MariaDB's JSON is a longtext (a str here); MySQL's binary JSON is decoded to objects
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(", ", ": "), default=_json_bytes)


def _json_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


_STRING = _fixed("string", avro.STRING, _to_text, _to_text, Form.TEXT)
_BYTES = _fixed("bytes", avro.BYTES, _to_bytes, _to_bytes, Form.BYTES)
_INT = _fixed("int", avro.INT, _same, int, Form.INT)
_GEOMETRY = _fixed("geometry", avro.BYTES, _geometry, _geometry, Form.GEOMETRY)
_BOOL = _fixed("bool", avro.BOOLEAN, _bool, _bool, Form.BOOL)

CODECS: dict[str, Factory] = {
    "tinyint": _tinyint,
    "bool": _BOOL,
    "boolean": _BOOL,
    "smallint": _INT,
    "mediumint": _INT,
    "int": _int,
    "integer": _int,
    "bigint": _bigint,
    "decimal": _decimal,
    "numeric": _decimal,
    "float": _fixed("float", avro.FLOAT, _same, float, Form.FLOAT),
    "double": _fixed("double", avro.DOUBLE, _same, float, Form.FLOAT),
    "bit": _bit,
    "char": _STRING,
    "varchar": _STRING,
    "tinytext": _STRING,
    "text": _STRING,
    "mediumtext": _STRING,
    "longtext": _STRING,
    "enum": _STRING,
    "set": _set,
    "json": _fixed("json", avro.STRING, _json_binlog, _to_text, Form.TEXT),
    "binary": _binary,
    "varbinary": _BYTES,
    "tinyblob": _BYTES,
    "blob": _BYTES,
    "mediumblob": _BYTES,
    "longblob": _BYTES,
    "date": _date,
    "datetime": _datetime,
    "timestamp": _timestamp,
    "time": _time,
    "year": _fixed("year", avro.INT, _year_binlog, int, Form.YEAR),
    "uuid": _fixed("uuid", avro.UUID, _uuid_binlog, _to_text, Form.HOOK),
    "inet6": _fixed("inet6", avro.STRING, _inet6_binlog, _to_text, Form.HOOK),
    "inet4": _fixed("inet4", avro.STRING, _inet4_binlog, _to_text, Form.HOOK),
    "geometry": _GEOMETRY,
    "point": _GEOMETRY,
    "linestring": _GEOMETRY,
    "polygon": _GEOMETRY,
    "multipoint": _GEOMETRY,
    "multilinestring": _GEOMETRY,
    "multipolygon": _GEOMETRY,
    "geometrycollection": _GEOMETRY,
    "geomcollection": _GEOMETRY,
}

ZERO_DATE_TYPES = frozenset({"date", "datetime", "timestamp"})
"""Types whose zero value is published as NULL: their Avro field is always nullable."""


def resolve(column: SourceColumn) -> ColumnType:
    """The ``ColumnType`` of ``column`` (unknown types: text as ``string``)."""
    factory = CODECS.get(column.data_type)
    if factory is None:
        return ColumnType(column.data_type, avro.STRING, _to_text, _to_text)
    return factory(column)
