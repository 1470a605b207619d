"""The connector end to end on the real stack: snapshot, then streaming, into compacted topics
that reproduce every table row by row."""

from __future__ import annotations

import random
import time
from pathlib import Path

import psycopg
import pytest

from strangler.connectors.config import SnapshotMode, SnapshotSettings, TableOptions, TableSelection
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.metrics import slot_lag
from strangler.connectors.postgres.progress import ProgressFile
from strangler.connectors.postgres.registrar import IncompatibleSchema
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.integration.connectors.postgres.topic_state import (
    Running,
    assert_topics_equal_tables,
    confirmed_lsn,
    current_lsn,
    make_source,
    registry_url,
    wait_caught_up,
)
from tests.support.kafka import consume_all
from tests.support.topics import topic_rows

pytestmark = pytest.mark.integration
Conn = psycopg.Connection[tuple[object, ...]]
__all__ = ["registry_url"]

SCHEMA = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    """CREATE TABLE customers (
        id serial PRIMARY KEY, name text NOT NULL, email varchar(100), balance numeric(12,2),
        active boolean, created timestamptz, birthday date, tags text[], meta jsonb, uid uuid,
        score double precision, ratio real, small smallint, big bigint, at_time time,
        span interval, data bytea, feeling mood, addr inet, local_ts timestamp)""",
    """CREATE TABLE "Order Lines" (
        order_id int, line_no int, qty int NOT NULL, price numeric(10,2), note text,
        PRIMARY KEY (order_id, line_no))""",
    """CREATE TABLE events_p (id bigint, at date, payload text, PRIMARY KEY (id, at))
       PARTITION BY RANGE (at)""",
    "CREATE TABLE events_p_2023 PARTITION OF events_p FOR VALUES FROM ('2023-01-01') TO "
    "('2024-01-01')",
    "CREATE TABLE events_p_2024 PARTITION OF events_p FOR VALUES FROM ('2024-01-01') TO "
    "('2025-01-01')",
    "CREATE TABLE events_p_other PARTITION OF events_p DEFAULT",
    "CREATE TABLE keyless (code text NOT NULL UNIQUE, label text)",
    "ALTER TABLE keyless REPLICA IDENTITY FULL",
    "CREATE TABLE secrets (id int PRIMARY KEY, visible text, hidden text)",
]

TABLES = [
    TableId("public", "Order Lines"),
    TableId("public", "customers"),
    TableId("public", "events_p"),
    TableId("public", "keyless"),
    TableId("public", "secrets"),
]

OVERRIDES = {
    "public.keyless": TableOptions(key=["code"]),
    "public.secrets": TableOptions(exclude_columns=["hidden"]),
}


def _customer_values(rng: random.Random, i: int) -> tuple[object, ...]:
    return (
        f"name {i} ü '{rng.random():.3f}'",
        None if i % 5 == 0 else f"c{i}@example.com",
        f"{rng.randint(-(10**6), 10**6)}.{rng.randint(0, 99):02d}",
        rng.choice([True, False, None]),
        f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 12:34:56.{rng.randint(0, 999999):06d}+02",
        f"19{rng.randint(10, 99)}-0{rng.randint(1, 9)}-2{rng.randint(0, 8)}",
        ["a,b", None, f't"{i}'] if i % 3 else [],
        f'{{"n": {i}, "s": "x\\ty"}}',
        f"a0eebc99-9c0b-4ef8-bb6d-{i:012d}",
        rng.random() * 1e10,
        1.5,
        rng.randint(-32768, 32767),
        rng.randint(-(2**63), 2**63 - 1),
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.5",
        f"{rng.randint(0, 400)} days 03:00:01",
        bytes(rng.randrange(256) for _ in range(rng.randint(0, 20))),
        rng.choice(["sad", "ok", "happy", None]),
        f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
        "2024-02-29 23:59:59.999999",
    )


_CUSTOMER_COLUMNS = (
    "name, email, balance, active, created, birthday, tags, meta, uid, score, ratio, small, big, "
    "at_time, span, data, feeling, addr, local_ts"
)


def _insert_customer(conn: Conn, rng: random.Random, i: int) -> None:
    placeholders = ", ".join(["%s"] * 19)
    conn.execute(
        f"INSERT INTO customers ({_CUSTOMER_COLUMNS}) VALUES ({placeholders})",
        _customer_values(rng, i),
    )


def _seed(dsn: str, rng: random.Random, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        with conn.transaction():
            for i in range(rows):
                _insert_customer(conn, rng, i)
                conn.execute(
                    'INSERT INTO "Order Lines" VALUES (%s, %s, %s, %s, %s)',
                    (i // 3, i % 3, rng.randint(1, 9), f"{i}.25", None if i % 4 else "gift"),
                )
                conn.execute(
                    "INSERT INTO events_p VALUES (%s, %s, %s)",
                    (i, f"202{3 + i % 2}-0{1 + i % 9}-11", f"payload {i}"),
                )
                conn.execute("INSERT INTO keyless VALUES (%s, %s)", (f"k{i}", f"label {i}"))
                conn.execute("INSERT INTO secrets VALUES (%s, %s, %s)", (i, f"v{i}", f"pw{i}"))


def _workload_step(conn: Conn, rng: random.Random, n: int) -> None:
    """One transaction of random inserts, updates and deletes over every table."""
    with conn.transaction():
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            k = rng.randint(0, n)
            if kind < 0.35:
                _insert_customer(conn, rng, n + rng.randint(0, 10**6))
                conn.execute(
                    'INSERT INTO "Order Lines" (order_id, line_no, qty, price) '
                    "VALUES (%s, %s, 1, 1.5) ON CONFLICT DO NOTHING",
                    (k, rng.randint(3, 50)),
                )
                conn.execute(
                    "INSERT INTO events_p VALUES (%s, '2024-05-05', 'new') ON CONFLICT DO NOTHING",
                    (n + k,),
                )
            elif kind < 0.75:
                conn.execute(
                    "UPDATE customers SET balance = balance + 1, tags = tags || 'u'::text, "
                    "feeling = 'happy' WHERE id %% 7 = %s",
                    (k % 7,),
                )
                conn.execute('UPDATE "Order Lines" SET qty = qty + 1 WHERE order_id = %s', (k,))
                # moves rows between partitions: a delete and an insert under the root
                conn.execute(
                    "UPDATE events_p SET at = at + 200, payload = 'moved' WHERE id = %s", (k,)
                )
                conn.execute("UPDATE keyless SET label = label || '!' WHERE code = %s", (f"k{k}",))
                conn.execute("UPDATE secrets SET visible = 'w', hidden = 'z' WHERE id = %s", (k,))
            else:
                conn.execute("DELETE FROM customers WHERE id = %s", (k + 1,))
                conn.execute('DELETE FROM "Order Lines" WHERE order_id = %s', (k // 2,))
                conn.execute("DELETE FROM events_p WHERE id = %s", (k,))
                conn.execute("DELETE FROM keyless WHERE code = %s", (f"k{k}",))


def test_snapshot_then_randomized_stream_with_schema_changes_reproduces_every_table(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    rng = random.Random(4)
    _seed(pg_database, rng, rows=300)
    source = make_source(pg_database, tmp_path, topic_name, overrides=OVERRIDES)
    running = Running(source, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for step in range(120):
            _workload_step(conn, rng, 300)
            if step == 40:  # schema changes mid-stream: a new nullable column, a dropped one
                conn.execute("ALTER TABLE customers ADD COLUMN nickname text")
                conn.execute("UPDATE customers SET nickname = 'nick' || id WHERE id % 3 = 0")
                conn.execute('ALTER TABLE "Order Lines" DROP COLUMN note')
            if step == 80:  # a widening type change (int -> bigint is a compatible promotion)
                conn.execute('ALTER TABLE "Order Lines" ALTER COLUMN qty TYPE bigint')
                conn.execute("TRUNCATE secrets")
                conn.execute("INSERT INTO secrets VALUES (1, 'after truncate', 'x')")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    assert_topics_equal_tables(
        pg_database, kafka_bootstrap, registry_url, topic_name, TABLES, {TABLES[3]: ["code"]}
    )
    secrets = topic_rows(kafka_bootstrap, registry_url, table_topic(topic_name, TABLES[4]))
    assert list(secrets.values()) == [{"id": 1, "visible": "after truncate"}]


def test_incompatible_schema_change_stops_before_publishing_it(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items VALUES (1, 'a')")
    source = make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES (2, 'b')")
        wait_caught_up(pg_database, source.slot, running=running)
        # NOT NULL, and a default that is not a constant gives no Avro default: old records
        # cannot be read with the new schema
        conn.execute("ALTER TABLE items ADD COLUMN sku text NOT NULL DEFAULT now()::text")
        with conn.transaction():
            conn.execute("INSERT INTO items VALUES (3, 'c', 'sku3')")
            row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            assert row is not None
            before_commit = Lsn.parse(str(row[0]))  # the commit record comes after this
    error = running.join()
    assert isinstance(error, IncompatibleSchema)
    assert "nothing of the new shape was published" in str(error) and error.fix
    assert "(now())::text) is not a constant" in error.fix and "two steps" in error.fix
    topic = table_topic(topic_name, TableId("public", "items"))
    assert len(consume_all(kafka_bootstrap, topic, expect=2)) == 2
    confirmed = confirmed_lsn(pg_database, source.slot)
    assert confirmed is not None and confirmed <= before_commit  # the refused one is not


def test_table_added_later_is_snapshotted_alone(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE first (id int PRIMARY KEY, v text)")
        conn.execute("CREATE TABLE second (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO first SELECT g, 'f' FROM generate_series(1, 50) g")
        conn.execute("INSERT INTO second SELECT g, 's' FROM generate_series(1, 70) g")
    only_first = TableSelection(include=["public.first"])
    source = make_source(pg_database, tmp_path, topic_name, tables=only_first)
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    both = make_source(
        pg_database, tmp_path, topic_name, tables=TableSelection(include=["public.*"])
    )
    running = Running(both, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE second SET v = 'changed' WHERE id <= 5")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    first_topic = table_topic(topic_name, TableId("public", "first"))
    assert len(consume_all(kafka_bootstrap, first_topic, expect=50)) == 50  # not re-snapshotted
    tables = [TableId("public", "first"), TableId("public", "second")]
    assert_topics_equal_tables(pg_database, kafka_bootstrap, registry_url, topic_name, tables)


def test_slot_advances_while_captured_tables_are_idle(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE captured (id int PRIMARY KEY)")
        conn.execute("CREATE TABLE other (id int PRIMARY KEY, v text)")
    source = make_source(
        pg_database, tmp_path, topic_name, tables=TableSelection(include=["public.captured"]),
        heartbeat_interval_s=0.5,
    )  # fmt: skip
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO other SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g")
    target = current_lsn(pg_database)
    confirmed = wait_caught_up(pg_database, source.slot, running=running, timeout=30)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        lag = slot_lag(conn, source.slot)
    running.finish()
    assert confirmed >= target
    assert lag["lag_bytes"] is not None and lag["retained_wal_bytes"] is not None
    assert lag["lag_bytes"] < 1_000_000  # the 5000 rows of the other table are not retained


def test_initial_only_snapshots_then_stops_and_never_keeps_no_slot(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
    source = make_source(
        pg_database, tmp_path, topic_name, snapshot=SnapshotSettings(mode=SnapshotMode.INITIAL_ONLY)
    )
    running = Running(source, kafka_bootstrap, registry_url)
    assert running.join() is None
    assert confirmed_lsn(pg_database, source.slot) is None  # a temporary slot, gone
    topic = table_topic(topic_name, TableId("public", "t"))
    assert len(consume_all(kafka_bootstrap, topic, expect=10)) == 10


def test_never_mode_streams_only_changes_after_the_slot(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT g, 'old' FROM generate_series(1, 10) g")
    source = make_source(
        pg_database, tmp_path, topic_name, snapshot=SnapshotSettings(mode=SnapshotMode.NEVER)
    )
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE t SET v = 'new' WHERE id = 3")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    rows = topic_rows(
        kafka_bootstrap, registry_url, table_topic(topic_name, TableId("public", "t"))
    )
    assert list(rows.values()) == [{"id": 3, "v": "new"}]


def test_when_needed_does_not_snapshot_again_while_the_slot_exists(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 10)")
    when_needed = SnapshotSettings(mode=SnapshotMode.WHEN_NEEDED)
    source = make_source(pg_database, tmp_path, topic_name, snapshot=when_needed)
    for _ in range(2):
        running = Running(source, kafka_bootstrap, registry_url)
        wait_caught_up(pg_database, source.slot, running=running)
        running.finish()
        (tmp_path / "pg.snapshot.json").unlink()  # state lost: the slot alone decides
    topic = table_topic(topic_name, TableId("public", "t"))
    assert len(consume_all(kafka_bootstrap, topic, expect=10)) == 10
    assert running.connector.metrics.snapshot_rows == 0


def test_existing_publication_is_made_to_publish_via_the_partition_root(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE p (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k)")
        conn.execute("CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)")
        conn.execute("CREATE PUBLICATION strangler_pub FOR TABLE p")
    source = make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO p VALUES (1, 1), (2, 1)")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    assert_topics_equal_tables(
        pg_database, kafka_bootstrap, registry_url, topic_name, [TableId("public", "p")]
    )
    assert (
        len(
            topic_rows(
                kafka_bootstrap, registry_url, table_topic(topic_name, TableId("public", "p"))
            )
        )
        == 2
    )


def test_stop_mid_snapshot_is_graceful_and_the_next_run_resumes(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 40000) g")
    source = make_source(
        pg_database, tmp_path, topic_name, snapshot=SnapshotSettings(chunk_rows=200)
    )
    progress = ProgressFile(tmp_path / "pg.snapshot.json")
    running = Running(source, kafka_bootstrap, registry_url)
    deadline = time.monotonic() + 60
    while not ((p := progress.load()) and p.tables.get(TableId("public", "big"))):
        assert time.monotonic() < deadline and running.error is None
        time.sleep(0.01)
    running.finish()  # like SIGTERM: the current chunk is flushed, progress saved
    stopped = progress.load()
    assert stopped is not None and stopped.pending([TableId("public", "big")])
    first_rows = running.connector.metrics.snapshot_rows
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    assert 0 < running.connector.metrics.snapshot_rows < 40_000  # resumed, not from zero
    assert first_rows + running.connector.metrics.snapshot_rows >= 40_000
    assert_topics_equal_tables(
        pg_database, kafka_bootstrap, registry_url, topic_name, [TableId("public", "big")]
    )


def test_large_transaction_spills_and_is_published_whole(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    source = make_source(pg_database, tmp_path, topic_name, max_in_memory=500)
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    with psycopg.connect(pg_database, autocommit=True) as conn, conn.transaction():
        conn.execute("INSERT INTO t SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g")
        conn.execute("UPDATE t SET v = 'changed' WHERE id % 3 = 0")
        conn.execute("DELETE FROM t WHERE id % 5 = 0")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    assert running.connector.metrics.transactions == 1
    assert running.connector.metrics.events == 20000 + 6666 + 4000
    assert_topics_equal_tables(
        pg_database, kafka_bootstrap, registry_url, topic_name, [TableId("public", "t")]
    )
