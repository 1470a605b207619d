"""Reading catalog facts pgoutput does not send: type definitions, NOT NULL columns, column
defaults, and a table's description for snapshots.

This is the only database access the type mapping needs, and it is kept off the decode path:
call it on an ordinary (non-replication) connection when a Relation message names types or a
relation not seen before, then decode with the result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from strangler.connectors.postgres.errors import PostgresError
from strangler.connectors.postgres.messages import Oid, Relation, RelationColumn, ReplicaIdentity
from strangler.connectors.postgres.types import SCALARS, TypeInfo
from strangler.core.events import TableId

_TYPES = """
SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype,
       t.typtypmod, t.typdelim
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = ANY(%s)
"""

_NOT_NULL = """
SELECT attname FROM pg_catalog.pg_attribute
WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attnotnull
"""

_COLUMN_NAMES = """
SELECT attname FROM pg_catalog.pg_attribute
WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped
"""

# generated columns keep their expression in pg_attrdef too; it is no default. pg_get_expr is
# given no relation (0): with one it takes an ACCESS SHARE lock on the table, which queues behind
# a waiting ALTER TABLE, which waits for the snapshot's own lock on that table: a deadlock the
# server cannot see. A default cannot refer to a column, so it prints the same without one.
_DEFAULTS = """
SELECT a.attname, pg_catalog.pg_get_expr(d.adbin, 0)
FROM pg_catalog.pg_attrdef d
JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = %s AND NOT a.attisdropped AND a.attgenerated = ''
"""

# How pg_get_expr prints a constant: a literal ('basic', 42, -1.5, true, NULL), maybe in
# parentheses ((-1)), maybe cast once or more ('basic'::character varying, ('a'::varchar)::text,
# '5'::bigint, '{}'::integer[], 'x'::"Mood"). Anything else (a function call, an operator) is
# computed by the server when the row is written, and has no constant value.
_TYPE_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$ ]*)'
_CAST = rf"\)*::{_TYPE_NAME}(?:\.{_TYPE_NAME})?(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])*"
_CONSTANT = re.compile(
    r"\(*(?:'(?P<quoted>(?:[^']|'')*)'|(?P<bare>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
    rf"|true|false|NULL))(?:{_CAST})*\)*"
)
_BARE_TEXT = {"true": "t", "false": "f"}


_DESCRIBE = """
SELECT c.oid, n.nspname, c.relname, c.relreplident,
       array_agg(a.attname ORDER BY a.attnum), array_agg(a.atttypid ORDER BY a.attnum),
       array_agg(a.atttypmod ORDER BY a.attnum),
       array_agg(coalesce(a.attnum = ANY(i.indkey), false) ORDER BY a.attnum)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = %s AND c.relname = %s
GROUP BY c.oid, n.nspname, c.relname, c.relreplident
"""


def describe_table(conn: psycopg.Connection[Any], table: TableId) -> Relation:
    """The table as pgoutput would describe it, with the primary key columns flagged as key
    (the snapshot reads tables through the same row decoding as the stream)."""
    row = conn.execute(_DESCRIBE, (table.schema, table.name)).fetchone()
    if row is None:
        raise PostgresError(f"table {table} does not exist", fix="check the table name and schema")
    oid, namespace, name, identity, names, types, typmods, keys = row
    columns = tuple(
        RelationColumn(bool(k), n, Oid(int(t)), int(m))
        for n, t, m, k in zip(names, types, typmods, keys, strict=True)
    )
    return Relation(None, Oid(int(oid)), namespace, name, ReplicaIdentity(identity), columns)


def load_types(conn: psycopg.Connection[Any], oids: Iterable[int]) -> dict[int, TypeInfo]:
    """``TypeInfo`` for ``oids`` and, transitively, their element and base types."""
    found: dict[int, TypeInfo] = {}
    wanted = {oid for oid in oids if oid not in SCALARS}
    while wanted:
        rows = conn.execute(_TYPES, (sorted(wanted),)).fetchall()
        infos = [_type_info(row) for row in rows]
        found.update((info.oid, info) for info in infos)
        referenced = {oid for info in infos for oid in (info.element, info.base) if oid}
        wanted = {oid for oid in referenced if oid not in SCALARS and oid not in found}
    return found


def not_null_columns(conn: psycopg.Connection[Any], relation_oid: int) -> frozenset[str]:
    rows = conn.execute(_NOT_NULL, (relation_oid,)).fetchall()
    return frozenset(str(row[0]) for row in rows)


def wait_for_columns(
    conn: psycopg.Connection[Any], relation: Relation, timeout_s: float = 5.0
) -> bool:
    """Wait until the catalog shows every column ``relation`` names; False after ``timeout_s``.

    The walsender can send a transaction's commit a moment before the transaction is visible
    to other sessions, so right after ``ADD COLUMN c NOT NULL DEFAULT 'x'; UPDATE ...`` the
    catalog may not show ``c`` yet: read then, ``c`` would be published nullable and without
    its default, and the next version (``c`` NOT NULL) refused as a type change."""
    wanted = {c.name for c in relation.columns}
    deadline = time.monotonic() + timeout_s
    while True:
        rows = conn.execute(_COLUMN_NAMES, (relation.oid,)).fetchall()
        if wanted <= {str(row[0]) for row in rows}:
            return True
        if time.monotonic() >= deadline:
            return False  # the catalog moved on (a later DDL dropped a column): read it as is
        time.sleep(0.02)


def column_defaults(conn: psycopg.Connection[Any], relation_oid: int) -> dict[str, str]:
    """Column name → its default expression as the server prints it (``'basic'::text``)."""
    rows = conn.execute(_DEFAULTS, (relation_oid,)).fetchall()
    return {str(name): str(expression) for name, expression in rows if expression is not None}


def constant_text(expression: str) -> tuple[bool, str | None]:
    """Whether a printed default ``expression`` is a constant, and then its value in the text
    form pgoutput sends values in (None for NULL): ``'it''s'::text`` → ``(True, "it's")``,
    ``true`` → ``(True, "t")``, ``now()`` → ``(False, None)``."""
    match = _CONSTANT.fullmatch(expression.strip())
    if match is None:
        return False, None
    quoted, bare = match.group("quoted"), match.group("bare")
    if quoted is not None:
        return True, quoted.replace("''", "'")
    return True, None if bare == "NULL" else _BARE_TEXT.get(bare, bare)


def _type_info(row: tuple[Any, ...]) -> TypeInfo:
    oid, namespace, name, typtype, category, element, base, typmod, delimiter = row
    return TypeInfo(
        Oid(int(oid)), namespace, name, typtype, category, Oid(int(element)), Oid(int(base)),
        typmod, delimiter,
    )  # fmt: skip
