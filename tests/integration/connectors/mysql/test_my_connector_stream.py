"""The MySQL connector end to end on the real stack: snapshot, then the binlog, into compacted
topics that reproduce every table row by row; a restart resumes from the stored position."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest

from strangler.connectors.config import SnapshotMode, SnapshotSettings, TableOptions
from strangler.connectors.mysql.config import OffsetSettings, OffsetStoreKind
from strangler.connectors.mysql.connector import PreflightFailed
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.offsets import KafkaOffsetStore
from strangler.connectors.postgres.registrar import IncompatibleSchema
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.headers import header_value
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now, settings
from tests.integration.connectors.mysql.test_my_connector_support import (
    Running,
    assert_topics_equal_tables,
    kafka_settings,
    make_source,
    reached,
    stored_position,
    wait_caught_up,
)
from tests.support.kafka import consume_all
from tests.support.topics import topic_rows

pytestmark = pytest.mark.integration

SCHEMA = [
    """CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2),
       qty INT, seen TIMESTAMP(6) NULL, flag BOOLEAN, born DATE)""",
    """CREATE TABLE pairs (a INT, b VARCHAR(10), v TEXT, PRIMARY KEY (a, b))""",
    """CREATE TABLE secrets (id BIGINT UNSIGNED PRIMARY KEY, visible VARCHAR(20),
       hidden VARCHAR(20))""",
    """CREATE TABLE coded (code VARCHAR(12) NOT NULL, label VARCHAR(20), UNIQUE KEY (code))""",
]
ITEMS = 1_500


def _tables(db: MysqlDatabase) -> list[TableId]:
    return [TableId(db.name, n) for n in ("coded", "items", "pairs", "secrets")]


def _overrides(db: MysqlDatabase) -> dict[str, TableOptions]:
    return {
        f"{db.name}.coded": TableOptions(key=["code"]),
        f"{db.name}.secrets": TableOptions(exclude_columns=["hidden"]),
    }


def _load(db: MysqlDatabase) -> None:
    execute(db, *SCHEMA)
    values = ", ".join(
        f"({i}, 'item {i}', {i}.25, {i % 7}, '2024-01-0{1 + i % 9} 10:00:00.{i:06d}', "
        f"{i % 2}, '1990-02-{1 + i % 28:02d}')"
        for i in range(1, ITEMS + 1)
    )
    execute(
        db,
        f"INSERT INTO items VALUES {values}",
        "INSERT INTO pairs VALUES (1, 'x', 'one'), (2, 'y', 'two'), (3, 'z', NULL)",
        "INSERT INTO secrets VALUES (18446744073709551615, 'max', 'h1'), (1, 'one', 'h2')",
        "INSERT INTO coded VALUES ('c1', 'first'), ('c2', 'second')",
    )


def _step(cur: Any, rng: random.Random, i: int, with_note: bool) -> None:
    key = rng.randint(1, ITEMS + 200)
    action = rng.random()
    note = ", note = 'n'" if with_note else ""
    if action < 0.35:
        cur.execute(
            "INSERT INTO items (id, name, price, qty) VALUES (%s, %s, %s, %s) "
            f"ON DUPLICATE KEY UPDATE qty = qty + 1{note}",
            (key, f"new {i} é", f"{rng.randint(0, 9999)}.{rng.randint(0, 99):02d}", i),
        )
    elif action < 0.6:
        cur.execute(
            f"UPDATE items SET price = price + 1, flag = NOT flag{note} WHERE id = %s", (key,)
        )
    elif action < 0.7:  # moves the row to another key
        cur.execute("UPDATE IGNORE items SET id = id + 5000 WHERE id = %s", (key,))
    elif action < 0.8:
        cur.execute("DELETE FROM items WHERE id = %s", (key,))
    elif action < 0.9:
        a = rng.randint(1, 30)
        cur.execute(
            "INSERT INTO pairs VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE v = CONCAT(v, '+')",
            (a, f"k{a % 3}", f"v{i}"),
        )
        cur.execute(
            "UPDATE IGNORE pairs SET b = 'moved' WHERE a = %s AND b = 'k0'", (rng.randint(1, 30),)
        )
    else:
        cur.execute("UPDATE secrets SET hidden = %s, visible = %s WHERE id = 1", (f"h{i}", f"v{i}"))
        cur.execute("UPDATE coded SET label = %s WHERE code = 'c1'", (f"l{i}",))


def _workload(db: MysqlDatabase, seed: int, steps: int, ddl: bool, note: bool = True) -> None:
    """Random transactions of 1-3 statements; with ``ddl``, a column is added a third of the
    way and the pairs table truncated two thirds of the way."""
    rng = random.Random(seed)
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=False)
    try:
        with conn.cursor() as cur:
            with_note = note and not ddl
            for i in range(steps):
                if ddl and i == steps // 3:
                    cur.execute("ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL")
                    with_note = True
                if ddl and i == 2 * steps // 3:
                    cur.execute("TRUNCATE TABLE pairs")
                for _ in range(rng.randint(1, 3)):
                    _step(cur, rng, i, with_note)
                conn.commit()
    finally:
        conn.close()


def _assert_equal(db: MysqlDatabase, kafka_bootstrap: str, registry_url: str, prefix: str) -> None:
    assert_topics_equal_tables(
        db, kafka_bootstrap, registry_url, prefix, _tables(db),
        keys={TableId(db.name, "coded"): ["code"]},
        excluded={TableId(db.name, "secrets"): ["hidden"]},
    )  # fmt: skip


def test_snapshot_stream_ddl_truncate_and_resume(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    _load(db)
    source = make_source(db, tmp_path, topic_name, overrides=_overrides(db))
    running = Running(source, kafka_bootstrap, registry_url)
    writer = threading.Thread(target=_workload, args=(db, 1, 150, False, False))
    writer.start()  # while the snapshot runs (or before it: the timing is the machine's)
    writer.join()
    assert running.connector.streaming.wait(60), running.error
    _workload(db, 2, 300, True)  # streamed: a column added, the pairs table truncated
    wait_caught_up(db, running)
    running.finish()
    _assert_equal(db, kafka_bootstrap, registry_url, topic_name)
    items_topic = table_topic(topic_name, TableId(db.name, "items"))
    records = consume_all(kafka_bootstrap, items_topic, expect=ITEMS)
    reads = sum(header_value(m.headers(), "op") == "r" for m in records)
    assert reads > ITEMS // 2  # the workload ran while the snapshot read
    streamed = [m for m in records if header_value(m.headers(), "op") != "r"]
    assert all(header_value(m.headers(), "gtid") for m in streamed)
    assert all(header_value(m.headers(), "position_kind") == "mysql_file_pos" for m in records)
    assert ":" in (header_value(records[-1].headers(), "position") or "")
    pairs = consume_all(kafka_bootstrap, table_topic(topic_name, TableId(db.name, "pairs")), 1)
    assert sum(header_value(m.headers(), "op") == "t" for m in pairs) == 2  # one per partition
    assert header_value(pairs[0].headers(), "op") == "r"

    # restart: resumes from the stored position, no new snapshot
    running = Running(source, kafka_bootstrap, registry_url)
    _workload(db, 3, 150, False)
    wait_caught_up(db, running)
    running.finish()
    _assert_equal(db, kafka_bootstrap, registry_url, topic_name)
    again = consume_all(kafka_bootstrap, items_topic, expect=len(records))
    assert sum(header_value(m.headers(), "op") == "r" for m in again) == reads


def test_incompatible_change_stops_before_publishing(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(
        db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, '1')"
    )
    source = make_source(db, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    execute(db, "INSERT INTO t VALUES (2, '2')")
    before = wait_caught_up(db, running)
    execute(db, "ALTER TABLE t MODIFY v INT", "INSERT INTO t VALUES (3, 7)")
    refused = position_now(db)  # after the insert of the new shape
    error = running.join()
    assert isinstance(error, IncompatibleSchema), error
    assert error.fix and "compatib" in error.fix
    topic = table_topic(topic_name, TableId(db.name, "t"))
    keys = {m.key() for m in consume_all(kafka_bootstrap, topic, expect=2)}
    assert len(keys) == 2  # rows 1 and 2; nothing of the new shape
    stored = stored_position(source)
    assert stored is not None and before is not None and reached(stored, before)
    assert not reached(stored, refused)


def test_never_initial_only_preflight_and_kafka_offsets(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(
        db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO t VALUES (1, 'a')"
    )
    topic = table_topic(topic_name, TableId(db.name, "t"))

    # preflight: a reader server id equal to the server's own is fatal, with its fix
    conn = pymysql.connect(**settings(db))
    with conn.cursor() as cur:
        cur.execute("SELECT @@server_id")
        (server_id,) = cur.fetchone() or (0,)
    conn.close()
    clash = make_source(db, tmp_path / "clash", topic_name, server_id=int(server_id))
    error = Running(clash, kafka_bootstrap, registry_url).join()
    assert isinstance(error, PreflightFailed) and "server_id" in str(error), error

    # initial_only: snapshot, then the run ends by itself
    only = make_source(
        db, tmp_path / "only", topic_name, snapshot=SnapshotSettings(mode=SnapshotMode.INITIAL_ONLY)
    )
    assert Running(only, kafka_bootstrap, registry_url).join() is None
    assert len(topic_rows(kafka_bootstrap, registry_url, topic)) == 1

    # never, with the position in a Kafka offsets topic: only changes made after the start
    offsets = OffsetSettings(store=OffsetStoreKind.KAFKA, topic=f"{topic_name}-offsets")
    never = make_source(
        db, tmp_path / "never", f"{topic_name}-n", name="never", offsets=offsets,
        snapshot=SnapshotSettings(mode=SnapshotMode.NEVER),
    )  # fmt: skip
    running = Running(never, kafka_bootstrap, registry_url)
    running.connector.streaming.wait(30)
    execute(db, "INSERT INTO t VALUES (2, 'b')")
    store = KafkaOffsetStore(kafka_settings(kafka_bootstrap), offsets.topic, "never")
    target = position_now(db)
    assert _wait(lambda: _kafka_position_reached(store, target))
    running.finish()
    never_topic = table_topic(f"{topic_name}-n", TableId(db.name, "t"))
    assert list(topic_rows(kafka_bootstrap, registry_url, never_topic)) == ['{"id": 2}']

    # what strangler connect --check / --teardown call
    assert running.connector.preflight_only() == [TableId(db.name, "t")]
    assert running.connector.teardown() == ["stored position of never (kafka offset store)"]
    assert store.load() is None
    assert running.connector.teardown() == []


def _kafka_position_reached(store: KafkaOffsetStore, target: BinlogPosition) -> bool:
    data = store.load()
    return data is not None and reached(BinlogPosition.parse(data["position"]), target)


def _wait(condition: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
