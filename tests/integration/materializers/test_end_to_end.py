"""End to end on the real stack: a PostgreSQL table → the PostgreSQL connector → a compacted
Avro topic (schemas in our registry) → a SQLite view and a PostgreSQL view, equal to the source
table after a randomized workload with a schema change and a TRUNCATE."""

from __future__ import annotations

import datetime
import decimal
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings
from strangler.materializers.columns import to_json
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import RegistrySchemas
from strangler.materializers.sqlite_target import SqliteTarget
from strangler.materializers.tables import POSITION_COLUMN
from tests.integration.connectors.postgres.topic_state import (
    Running,
    make_source,
    registry_url,
    wait_caught_up,
)
from tests.integration.materializers.views import view_config

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]  # the connector tests' in-process registry fixture

COLUMNS = ["id", "name", "Weird Col", "price", "active", "created", "uid", "tags", "extra"]


def _row(rng: random.Random, i: int) -> tuple[Any, ...]:
    return (
        f"name {i} ü '{rng.random():.3f}'",
        None if i % 4 == 0 else f"w{i}",
        decimal.Decimal(f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"),
        rng.choice([True, False, None]),
        datetime.datetime(2024, 1 + i % 12, 1 + i % 28, 12, 30, i % 60, 123456, datetime.UTC),
        uuid.UUID(int=rng.getrandbits(128)),
        [f"t{i}", "x"] if i % 3 else [],
    )


def _insert(conn: psycopg.Connection[Any], rng: random.Random, i: int) -> None:
    conn.execute(
        'INSERT INTO products (id, name, "Weird Col", price, active, created, uid, tags) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (i, *_row(rng, i)),
    )


def _workload(dsn: str, rng: random.Random) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for step in range(150):
            with conn.transaction():
                for _ in range(rng.randint(1, 5)):
                    k, roll = rng.randint(0, 400), rng.random()
                    if roll < 0.4:
                        _insert(conn, rng, k)
                    elif roll < 0.8:
                        conn.execute(
                            "UPDATE products SET price = price + 1, active = NOT active, "
                            "name = name || '+' WHERE id %% 9 = %s",
                            (k % 9,),
                        )
                    else:
                        conn.execute("DELETE FROM products WHERE id = %s", (k,))
            if step == 50:
                conn.execute("ALTER TABLE products ADD COLUMN extra text")
                conn.execute("UPDATE products SET extra = 'e' || id WHERE id % 2 = 0")
            if step == 100:
                conn.execute("TRUNCATE products")
                for i in range(60):
                    _insert(conn, rng, 1000 + i)


def _source_rows(dsn: str) -> dict[int, tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT {cols} FROM products".encode()).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _view_rows(conn: Any, table: str) -> dict[int, tuple[Any, ...]]:
    cur = conn.execute(
        f"SELECT * FROM {table}".encode()
        if isinstance(conn, psycopg.Connection)
        else f"SELECT * FROM {table}"
    )
    names = [d[0] for d in cur.description]
    index = [names.index(c) for c in COLUMNS]
    assert POSITION_COLUMN in names
    return {r[index[0]]: tuple(r[i] for i in index[1:]) for r in cur.fetchall()}


def _as_sqlite(value: Any) -> Any:
    """A source value as the SQLite view stores it (see materializers.columns)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return to_json(value)
    return value


def test_postgres_table_to_sqlite_and_postgres_views(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    rng = random.Random(8)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            'CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, "Weird Col" text, '
            "price numeric(10,2), active boolean, created timestamptz, uid uuid, tags text[])"
        )
        for i in range(200):
            _insert(conn, rng, i)
    source = make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    _workload(pg_database, rng)
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    topic = table_topic(topic_name, TableId("public", "products"))
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    db = tmp_path / "view.db"
    lite = view_config("e2e-lite", topic, {"sqlite": {"path": str(db)}})
    pg = view_config("e2e-pg", topic, {"postgres": {"dsn": pg_database, "schema": "view"}})
    schemas = RegistrySchemas(registry_url)
    ViewRunner(lite, settings, schemas, SqliteTarget(db)).run(idle_exit_s=4)
    ViewRunner(pg, settings, schemas, PostgresTarget(pg_database, "view")).run(idle_exit_s=4)
    expected = _source_rows(pg_database)
    assert len(expected) > 50
    with psycopg.connect(pg_database) as conn:
        assert _view_rows(conn, '"view"."items"') == expected
    lite_conn = sqlite3.connect(db)
    sqlite_expected = {k: tuple(_as_sqlite(v) for v in row) for k, row in expected.items()}
    assert _view_rows(lite_conn, '"items"') == sqlite_expected
