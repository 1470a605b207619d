"""Helpers for the MySQL/MariaDB connector's integration tests (a real MariaDB)."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pymysql

from strangler.cli.devstack.smoke import mysql_settings
from strangler.connectors.mysql.positions import BinlogPosition, parse_gtids
from strangler.connectors.mysql.stream import BinlogSource
from strangler.connectors.mysql.transactions import Transaction
from strangler.core.events import Row
from strangler.core.schema import TableSchema, value_record, value_schema
from tests.fixtures import MysqlDatabase


def settings(db: MysqlDatabase) -> dict[str, Any]:
    return dict(mysql_settings(db.url))


def execute(db: MysqlDatabase, *statements: str, sql_mode: str | None = None) -> None:
    """Run statements in the test's database, autocommit, session time zone UTC."""
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            if sql_mode is not None:
                cur.execute("SET SESSION sql_mode = %s", (sql_mode,))
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def position_now(db: MysqlDatabase) -> BinlogPosition:
    conn = pymysql.connect(**settings(db))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@gtid_binlog_pos")
            row = cur.fetchone()
    finally:
        conn.close()
    return BinlogPosition(parse_gtids(str(row[0] if row else "")))


def reader_id() -> int:
    """A replica server id no concurrent test uses."""
    return random.randint(100_000, 4_000_000_000)


def stream_all(
    db: MysqlDatabase, start: BinlogPosition | None, *, relevant_only: bool = True, **kw: Any
) -> list[Transaction]:
    """The transactions from ``start`` to the end of the binlog. ``relevant_only``: only those
    with events, or with DDL naming a table of the test's database (other tests write to the
    same server concurrently, and their transactions arrive as empty ones)."""
    with BinlogSource(
        settings(db), server_id=reader_id(), start=start, schemas=[db.name], blocking=False, **kw
    ) as source:
        txs = list(source.transactions())
    if not relevant_only:
        return txs
    return [
        tx for tx in txs if tx.events or any(t.schema == db.name for d in tx.ddl for t in d.tables)
    ]


def avro_round_trip(schema: TableSchema, row: Row) -> dict[str, Any]:
    """``row`` written with the table's value schema by fastavro and read back."""
    parsed = fastavro.parse_schema(value_schema(schema, "test"))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value_record(schema, row))
    buffer.seek(0)
    out = fastavro.schemaless_reader(buffer, parsed, None)
    assert isinstance(out, dict)
    return out
