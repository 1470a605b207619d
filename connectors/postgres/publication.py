"""The publication that names the captured tables for pgoutput.

Created ``WITH (publish_via_partition_root = true)``: changes of a partition are published as
changes of its partitioned root, so one topic holds the whole partitioned table (as the snapshot
reads it through the root). Tables added to the pipeline later are added to the publication;
tables are never removed from it (another pipeline may share it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from strangler.connectors.postgres.errors import PostgresError
from strangler.core.events import TableId

_MEMBERS = """
SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = %s
"""


def _exists(conn: psycopg.Connection[Any], name: str) -> tuple[bool, bool]:
    row = conn.execute(
        "SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = %s", (name,)
    ).fetchone()
    return (False, False) if row is None else (True, bool(row[0]))


def ensure_via_root(conn: psycopg.Connection[Any], name: str, *, alter: bool) -> None:
    """An existing publication must publish partitions as their root, or their changes would
    arrive as changes of partitions (tables this pipeline does not capture)."""
    row = conn.execute(
        "SELECT pubviaroot FROM pg_catalog.pg_publication WHERE pubname = %s", (name,)
    ).fetchone()
    if row is None or row[0]:
        return
    if not alter:
        raise PostgresError(
            f"publication {name} publishes partitions as themselves, not as their root",
            fix=f"ALTER PUBLICATION {name} SET (publish_via_partition_root = true)",
        )
    conn.execute(
        sql.SQL("ALTER PUBLICATION {} SET (publish_via_partition_root = true)").format(
            sql.Identifier(name)
        )
    )


def publication_tables(conn: psycopg.Connection[Any], name: str) -> set[TableId]:
    return {TableId(s, t) for s, t in conn.execute(_MEMBERS, (name,)).fetchall()}


def ensure_publication(
    conn: psycopg.Connection[Any], name: str, tables: Sequence[TableId], *, create: bool
) -> list[TableId]:
    """Make ``name`` publish ``tables``; returns the tables that were added. ``conn`` is in
    autocommit mode. Without ``create``, a missing publication or table is an error."""
    exists, all_tables = _exists(conn, name)
    if exists:
        ensure_via_root(conn, name, alter=create)
    if all_tables:
        return []
    missing = (
        [t for t in tables if t not in publication_tables(conn, name)] if exists else list(tables)
    )
    if missing and not create:
        listed = ", ".join(str(t) for t in missing)
        raise PostgresError(
            f"publication {name} does not publish {listed}",
            fix=f"ALTER PUBLICATION {name} ADD TABLE ..., or set create_publication: true",
        )
    if not missing:
        return []
    names = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in missing)
    if exists:
        conn.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(sql.Identifier(name), names)
        )
    else:
        conn.execute(
            sql.SQL(
                "CREATE PUBLICATION {} FOR TABLE {} WITH (publish_via_partition_root = true)"
            ).format(sql.Identifier(name), names)
        )
    return missing


def drop_publication(conn: psycopg.Connection[Any], name: str) -> bool:
    """Drop the publication if it exists; True if it did."""
    exists, _ = _exists(conn, name)
    if exists:
        conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
    return exists
