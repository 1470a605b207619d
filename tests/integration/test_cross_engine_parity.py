"""The same logical table in PostgreSQL and in MariaDB, with the same rows and the same changes,
yields the same topic content through either connector: equal decoded keys and rows, and value
schemas with the same fields and types.

Types used are those both engines map identically (``connectors/postgres/types.py``,
``connectors/mysql/types.py``): integer/INT → int, bigint/BIGINT → long, varchar/VARCHAR and
text/TEXT → string, numeric(p,s)/DECIMAL(p,s) → decimal(p,s) bytes, date/DATE → date,
timestamptz/TIMESTAMP(6) → timestamp-micros (UTC), boolean/BOOLEAN (MySQL tinyint(1)) →
boolean. Documented differences left out: MySQL publishes zero dates as NULL, so its date and
timestamp fields are always nullable; here every non-key column is nullable on both sides.
The record names differ only by their namespace (the schema: ``public`` vs the database).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from strangler.connectors.config import SnapshotSettings, TableSelection
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, settings
from tests.integration.connectors.mysql.test_my_connector_support import Running as MyRunning
from tests.integration.connectors.mysql.test_my_connector_support import (
    make_source as make_my_source,
)
from tests.integration.connectors.mysql.test_my_connector_support import (
    wait_caught_up as wait_my_caught_up,
)
from tests.integration.connectors.postgres.topic_state import Running as PgRunning
from tests.integration.connectors.postgres.topic_state import make_source as make_pg_source
from tests.integration.connectors.postgres.topic_state import wait_caught_up as wait_pg_caught_up
from tests.support.topics import latest_value_schema, topic_rows

pytestmark = pytest.mark.integration

PG_TABLE = """CREATE TABLE products (
    id integer PRIMARY KEY, sku bigint, name varchar(50), descr text, price numeric(10,2),
    added date, updated timestamptz(6), active boolean)"""
MY_TABLE = """CREATE TABLE products (
    id INT PRIMARY KEY, sku BIGINT NULL, name VARCHAR(50) NULL, descr TEXT NULL,
    price DECIMAL(10,2) NULL, added DATE NULL, updated TIMESTAMP(6) NULL, active BOOLEAN NULL)"""
COLUMNS = "id, sku, name, descr, price, added, updated, active"
INSERT = f"INSERT INTO products ({COLUMNS}) VALUES ({', '.join(['%s'] * 8)})"


def _rows(first: int, count: int) -> list[tuple[Any, ...]]:
    return [
        (
            i,
            None if i % 11 == 0 else 9_000_000_000 + i,
            f"product {i} ü",
            None if i % 3 else f"long text {'x' * (i % 40)} 'quoted' \\ back",
            None if i % 13 == 0 else f"{-1 if i % 5 == 0 else 1}{i * 7 % 100000}.{i % 100:02d}",
            None if i % 17 == 0 else f"20{10 + i % 15}-0{1 + i % 9}-{1 + i % 28:02d}",
            None if i % 19 == 0 else f"2024-03-{1 + i % 28:02d} 0{i % 10}:1{i % 6}:00.{i:06d}",
            None if i % 7 == 0 else bool(i % 2),
        )
        for i in range(first, first + count)
    ]


CHANGES = [
    "UPDATE products SET price = price * 2, active = NOT active WHERE id % 4 = 0",
    "UPDATE products SET name = 'renamed', descr = NULL WHERE id BETWEEN 10 AND 30",
    "DELETE FROM products WHERE id % 9 = 0",
    "UPDATE products SET id = id + 10000 WHERE id BETWEEN 200 AND 210",
]


def _load_pg(dsn: str, rows: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO products ({COLUMNS}) VALUES ({', '.join(['%s'] * 8)})", rows
            )


def _load_my(db: MysqlDatabase, rows: list[tuple[Any, ...]]) -> None:
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.executemany(
                f"INSERT INTO products ({COLUMNS}) VALUES ({', '.join(['%s'] * 8)})", rows
            )
    finally:
        conn.close()


def _change_pg(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in CHANGES:
            conn.execute(statement)


def _fields(schema_text: str) -> list[tuple[str, str]]:
    return [
        (f["name"], json.dumps(f["type"], sort_keys=True))
        for f in json.loads(schema_text)["fields"]
    ]


def test_postgres_and_mariadb_topics_have_the_same_content(
    pg_database: str,
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(PG_TABLE)
    execute(mysql_database, MY_TABLE)
    _load_pg(pg_database, _rows(1, 600))
    _load_my(mysql_database, _rows(1, 600))

    pg_prefix, my_prefix = f"{topic_name}-pg", f"{topic_name}-my"
    pg_source = make_pg_source(
        pg_database, tmp_path / "pg", pg_prefix, tables=TableSelection(include=["public.products"])
    )
    my_source = make_my_source(
        mysql_database, tmp_path / "my", my_prefix, snapshot=SnapshotSettings(chunk_rows=200)
    )
    pg = PgRunning(pg_source, kafka_bootstrap, registry_url)
    my = MyRunning(my_source, kafka_bootstrap, registry_url)
    # streamed changes, after (or while) each snapshot ran
    _load_pg(pg_database, _rows(601, 150))
    _load_my(mysql_database, _rows(601, 150))
    _change_pg(pg_database)
    execute(mysql_database, *CHANGES)
    wait_pg_caught_up(pg_database, pg_source.slot, running=pg)
    wait_my_caught_up(mysql_database, my)
    pg.finish()
    my.finish()

    pg_topic = table_topic(pg_prefix, TableId("public", "products"))
    my_topic = table_topic(my_prefix, TableId(mysql_database.name, "products"))
    pg_schema = latest_value_schema(registry_url, f"{pg_topic}-value")
    my_schema = latest_value_schema(registry_url, f"{my_topic}-value")
    assert _fields(pg_schema) == _fields(my_schema)
    pg_key = latest_value_schema(registry_url, f"{pg_topic}-key")
    my_key = latest_value_schema(registry_url, f"{my_topic}-key")
    assert _fields(pg_key) == _fields(my_key) == [("id", '"int"')]
    pg_rows = topic_rows(kafka_bootstrap, registry_url, pg_topic)
    my_rows = topic_rows(kafka_bootstrap, registry_url, my_topic)
    assert len(pg_rows) > 600
    assert sorted(pg_rows) == sorted(my_rows)
    differing = [(pg_rows[k], my_rows[k]) for k in pg_rows if pg_rows[k] != my_rows[k]]
    assert not differing, differing[:3]
