"""Reading table definitions from ``information_schema`` and quoting identifiers.

Used by the snapshot (the table as it is now) and by the stream for the few facts a TABLE_MAP
event does not carry (``tinyint(1)`` display width; MariaDB's ``uuid``/``inet6``/``inet4``,
which the binlog describes only as ``binary(n)``). Never called on the decode path itself: the
stream loads a table's hints once, and again after a DDL statement names the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pymysql

from strangler.connectors.mysql.errors import UnknownTable
from strangler.connectors.mysql.rows import TableCodec, table_codec
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import TableId

_COLUMNS = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE,
       CHARACTER_OCTET_LENGTH
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


def quote_ident(name: str) -> str:
    """A MySQL identifier in backquotes, with embedded backquotes doubled."""
    return "`" + name.replace("`", "``") + "`"


def quote_table(table: TableId) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return int(_text(value)) if value is not None else 0


def _column(row: tuple[Any, ...]) -> SourceColumn:
    name, data_type, column_type, is_nullable, precision, scale, octets = row
    full = _text(column_type).lower()
    data = _text(data_type).lower()
    width = _WIDTH.match(full)
    labels = tuple(x.replace("''", "'") for x in _LABEL.findall(full))
    return SourceColumn(
        name=_text(name),
        data_type=data,
        unsigned=" unsigned" in full,
        nullable=_text(is_nullable) == "YES",
        precision=_int(octets) if data == "binary" else _int(precision),
        scale=_int(scale),
        display_width=int(width.group(1)) if width and data == "tinyint" else 0,
        labels=labels if data in ("enum", "set") else (),
    )


def load_columns(conn: pymysql.Connection[Any], table: TableId) -> list[SourceColumn]:
    """The table's columns in order (empty if the table does not exist)."""
    with conn.cursor() as cur:
        cur.execute(_COLUMNS, (table.schema, table.name))
        return [_column(row) for row in cur.fetchall()]


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
