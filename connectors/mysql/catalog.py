"""Reading table definitions from ``information_schema`` and quoting identifiers.

Used by the snapshot (the table as it is now) and by the stream for the few facts a TABLE_MAP
event does not carry (``tinyint(1)`` display width; MariaDB's ``uuid``/``inet6``/``inet4``,
which the binlog describes only as ``binary(n)``; column defaults). Never called on the decode
path itself: the stream loads a table's hints once, and again after a DDL statement names the
table.

``COLUMN_DEFAULT`` is spelled differently by the two servers: MariaDB (10.2.7 on) prints an
SQL expression (``'basic'``, ``5``, ``NULL``, ``current_timestamp()``), MySQL 8 prints a
literal's bare value and marks an expression ``DEFAULT_GENERATED`` in ``EXTRA``. A constant
becomes the column's Avro default (see ``strangler.core.schema``); an expression does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pymysql

from strangler.connectors.mysql.errors import UnknownTable
from strangler.connectors.mysql.rows import TableCodec, table_codec
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import TableId
from strangler.core.schema import Default

_COLUMNS = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE,
       CHARACTER_OCTET_LENGTH, COLUMN_DEFAULT, EXTRA
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
"""

_PRIMARY_KEY = """
SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY'
ORDER BY ORDINAL_POSITION
"""

_WIDTH = re.compile(r"^\w+\((\d+)\)")
_LABEL = re.compile(r"'((?:[^']|'')*)'")
_QUOTED = re.compile(r"'((?:[^'\\]|'')*)'")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def quote_ident(name: str) -> str:
    """A MySQL identifier in backquotes, with embedded backquotes doubled."""
    return "`" + name.replace("`", "``") + "`"


def quote_table(table: TableId) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return int(_text(value)) if value is not None else 0


def constant_default(column_default: str | None, extra: str, mariadb: bool) -> Default | None:
    """The default ``COLUMN_DEFAULT`` states, a constant's value (None for NULL) still as text:
    ``rows.table_codec`` types it for the column's Avro type. None: no default."""
    if column_default is None:
        return None
    if not mariadb:  # MySQL: a literal's value, or an expression marked in EXTRA
        if "DEFAULT_GENERATED" in extra.upper():
            return Default(column_default)
        return Default("'" + column_default.replace("'", "''") + "'", True, column_default)
    quoted = _QUOTED.fullmatch(column_default)
    if quoted is not None:
        return Default(column_default, True, quoted.group(1).replace("''", "'"))
    if column_default == "NULL":
        return Default(column_default, True, None)
    if _NUMBER.fullmatch(column_default):
        return Default(column_default, True, column_default)
    return Default(column_default)


def _column(row: tuple[Any, ...], mariadb: bool) -> SourceColumn:
    (
        name, data_type, column_type, is_nullable, precision, scale, octets, default, extra
    ) = row  # fmt: skip
    full = _text(column_type).lower()
    data = _text(data_type).lower()
    width = _WIDTH.match(full)
    labels = tuple(x.replace("''", "'") for x in _LABEL.findall(full))
    column = SourceColumn(
        name=_text(name),
        data_type=data,
        unsigned=" unsigned" in full,
        nullable=_text(is_nullable) == "YES",
        precision=_int(octets) if data == "binary" else _int(precision),
        scale=_int(scale),
        display_width=int(width.group(1)) if width and data == "tinyint" else 0,
        labels=labels if data in ("enum", "set") else (),
    )
    stated = None if default is None else _text(default)
    return replace(column, default=constant_default(stated, _text(extra or ""), mariadb))


def load_columns(conn: pymysql.Connection[Any], table: TableId) -> list[SourceColumn]:
    """The table's columns in order (empty if the table does not exist)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@version")
        version = cur.fetchone()
        cur.fetchall()  # an unbuffered (SSCursor) connection's result must be read to its end
        mariadb = version is not None and "mariadb" in _text(version[0]).lower()
        cur.execute(_COLUMNS, (table.schema, table.name))
        return [_column(row, mariadb) for row in cur.fetchall()]


def load_primary_key(conn: pymysql.Connection[Any], table: TableId) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(_PRIMARY_KEY, (table.schema, table.name))
        return [_text(row[0]) for row in cur.fetchall()]


def describe_table(
    conn: pymysql.Connection[Any], table: TableId, key: list[str] | None = None
) -> TableCodec:
    """The table's current codec (``key`` overrides the primary key)."""
    columns = load_columns(conn, table)
    if not columns:
        raise UnknownTable(f"table {table} does not exist", fix="check the database and table name")
    return table_codec(table, columns, key if key is not None else load_primary_key(conn, table))


def list_tables(conn: pymysql.Connection[Any], schema: str) -> list[TableId]:
    """The base tables of ``schema`` (views excluded), by name."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (schema,),
        )
        return [TableId(schema, _text(row[0])) for row in cur.fetchall()]


def column_hints(conn: pymysql.Connection[Any], table: TableId) -> Mapping[str, SourceColumn]:
    """The catalog's columns by name, for refining a TABLE_MAP description."""
    return {c.name: c for c in load_columns(conn, table)}
