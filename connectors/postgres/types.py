"""PostgreSQL types → Avro types and value parsers: one table, keyed by type oid.

``SCALARS`` maps each built-in type's oid to a codec factory: given the column's type modifier
(``atttypmod``) it returns a ``ColumnType`` (the Avro type, and a parser from the pgoutput text
form to the Python value fastavro writes). Types that are not in the table are resolved through
their ``pg_type`` row (``TypeInfo``, loaded by ``catalog``): domains as their base type (with the
domain's own type modifier), enums as strings, arrays as Avro arrays of their element type.
Anything else (composite, range, geometric, bit strings, xml, extension types…) is published as
its text form in an Avro string: never a crash, never a guess.

Documented choices:

==========================  ===========================================================
numeric(p,s)                Avro ``decimal(p,s)`` (bytes); NaN is rejected with an error.
                            Negative scale or scale > precision are widened to a valid
                            decimal that holds every value (numeric(2,-3) → decimal(5,0)).
numeric (unconstrained)     Avro ``string``, PostgreSQL's exact text (``NaN``, ``Infinity``
                            kept): no Avro decimal fits an unbounded scale.
money                       ``string``, as formatted by the server's ``lc_monetary``.
timestamp                   ``timestamp-micros``: the wall-clock value read as UTC.
timestamptz                 ``timestamp-micros``, UTC.
timetz                      ``string`` (``12:00:00+05:30``): Avro has no zoned time.
interval                    ``string``, ISO 8601 (``P1Y2M3DT4H5M6S``); exact, unlike Avro's
                            ``duration`` (milliseconds, no negatives).
json, jsonb                 ``string`` holding the JSON text.
uuid                        ``string`` with logicalType ``uuid``.
enum                        ``string`` (labels need not be Avro symbols; adding a label
                            would break Avro enum compatibility).
inet, cidr, macaddr(8)      ``string``.
arrays                      ``array`` of ``["null", element]`` (elements may be NULL);
                            one-dimensional only, bounds dropped (see ``arrays``).
oid                         ``long`` (oids are unsigned 32-bit).
==========================  ===========================================================

Dates and timestamps at ``infinity`` / out of Python's range: see ``pgtext``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from strangler.connectors.postgres import pgtext
from strangler.connectors.postgres.arrays import parse_array
from strangler.connectors.postgres.messages import Oid
from strangler.core import avro
from strangler.core.avro import AvroType

Parser = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How one column's values are published."""

    pg_name: str
    avro_type: AvroType
    parse: Parser


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """The ``pg_type`` facts needed to resolve a type that is not built in."""

    oid: Oid
    namespace: str
    name: str
    typtype: str
    """``b`` base, ``d`` domain, ``e`` enum, ``c`` composite, ``r`` range, ``p`` pseudo."""
    category: str
    """``typcategory``: ``A`` for arrays."""
    element: Oid
    """``typelem`` (0 unless an array)."""
    base: Oid
    """``typbasetype`` (0 unless a domain)."""
    typmod: int
    """``typtypmod``: a domain's modifier (``numeric(10,2)`` domains), else -1."""
    delimiter: str = ","


Factory = Callable[[int], ColumnType]


def _fixed(pg_name: str, avro_type: AvroType, parse: Parser) -> Factory:
    column_type = ColumnType(pg_name, avro_type, parse)
    return lambda typmod: column_type


def _text(text: str) -> str:
    return text


def _numeric(typmod: int) -> ColumnType:
    if typmod < 4:  # no (p,s): unconstrained
        return ColumnType("numeric", avro.STRING, _text)
    precision = ((typmod - 4) >> 16) & 0xFFFF
    scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024  # 11-bit signed since PostgreSQL 15
    digits = max(precision, scale) + max(0, -scale)
    avro_type = avro.decimal(digits, max(scale, 0))
    return ColumnType(f"numeric({precision},{scale})", avro_type, pgtext.parse_decimal)


SCALARS: dict[int, Factory] = {
    16: _fixed("boolean", avro.BOOLEAN, pgtext.parse_bool),
    17: _fixed("bytea", avro.BYTES, pgtext.parse_bytea),
    18: _fixed('"char"', avro.STRING, _text),
    19: _fixed("name", avro.STRING, _text),
    20: _fixed("bigint", avro.LONG, pgtext.parse_int),
    21: _fixed("smallint", avro.INT, pgtext.parse_int),
    23: _fixed("integer", avro.INT, pgtext.parse_int),
    25: _fixed("text", avro.STRING, _text),
    26: _fixed("oid", avro.LONG, pgtext.parse_int),
    114: _fixed("json", avro.STRING, _text),
    650: _fixed("cidr", avro.STRING, _text),
    700: _fixed("real", avro.FLOAT, pgtext.parse_float),
    701: _fixed("double precision", avro.DOUBLE, pgtext.parse_float),
    774: _fixed("macaddr8", avro.STRING, _text),
    790: _fixed("money", avro.STRING, _text),
    829: _fixed("macaddr", avro.STRING, _text),
    869: _fixed("inet", avro.STRING, _text),
    1042: _fixed("character", avro.STRING, _text),
    1043: _fixed("character varying", avro.STRING, _text),
    1082: _fixed("date", avro.DATE, pgtext.parse_date),
    1083: _fixed("time", avro.TIME_MICROS, pgtext.parse_time),
    1114: _fixed("timestamp", avro.TIMESTAMP_MICROS, pgtext.parse_timestamp),
    1184: _fixed("timestamptz", avro.TIMESTAMP_MICROS, pgtext.parse_timestamp),
    1186: _fixed("interval", avro.STRING, pgtext.parse_interval),
    1266: _fixed("timetz", avro.STRING, _text),
    1700: _numeric,
    2950: _fixed("uuid", avro.UUID, uuid.UUID),
    3802: _fixed("jsonb", avro.STRING, _text),
}

BUILTIN_ARRAYS: dict[int, int] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23, 1009: 25,
    1028: 26, 199: 114, 651: 650, 1021: 700, 1022: 701, 775: 774, 791: 790, 1040: 829,
    1041: 869, 1014: 1042, 1015: 1043, 1182: 1082, 1183: 1083, 1115: 1114, 1185: 1184,
    1187: 1186, 1270: 1266, 1231: 1700, 2951: 2950, 3807: 3802,
}  # fmt: skip
"""Array type oid → element type oid for the arrays of the types in ``SCALARS``."""


def resolve(oid: int, typmod: int, catalog: Mapping[int, TypeInfo]) -> ColumnType:
    """The ``ColumnType`` of a column of type ``oid`` with modifier ``typmod``."""
    factory = SCALARS.get(oid)
    if factory is not None:
        return factory(typmod)
    info = catalog.get(oid)
    if info is None:
        element = BUILTIN_ARRAYS.get(oid)
        if element is not None:
            return _array(resolve(element, typmod, catalog), ",")
        return ColumnType(f"oid {oid}", avro.STRING, _text)
    return _resolve_info(info, typmod, catalog)


def _resolve_info(info: TypeInfo, typmod: int, catalog: Mapping[int, TypeInfo]) -> ColumnType:
    if info.typtype == "d":
        return resolve(info.base, info.typmod if typmod < 0 else typmod, catalog)
    if info.typtype == "e":
        return ColumnType(info.name, avro.STRING, _text)
    if info.category == "A" and info.element:
        return _array(resolve(info.element, typmod, catalog), info.delimiter)
    return ColumnType(info.name, avro.STRING, _text)


def _array(element: ColumnType, delimiter: str) -> ColumnType:
    parse_element = element.parse

    def parse(text: str) -> list[Any]:
        return [None if e is None else parse_element(e) for e in parse_array(text, delimiter)]

    return ColumnType(f"{element.pg_name}[]", avro.array(avro.nullable(element.avro_type)), parse)
