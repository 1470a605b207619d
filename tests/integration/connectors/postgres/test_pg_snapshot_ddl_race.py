"""DDL committed between the slot's creation and the snapshot's table locks, with one snapshot
reader and with several (``snapshot_workers``).

The slot's exported snapshot is older than that DDL: the snapshot must still read each table
(a dropped column no longer exists for the query's parser) and must not read a rewritten or
truncated table as empty (a rewrite is not MVCC-safe). The DDL is run at exactly that moment by
wrapping the slot creation the connector calls.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from strangler.connectors.postgres import connector as connector_module
from strangler.core.events import TableId
from tests.integration.connectors.postgres.topic_state import (
    Running,
    assert_topics_equal_tables,
    make_source,
    registry_url,
    wait_caught_up,
)

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]

TABLES = {
    "dropped": TableId("public", "dropped"),
    "retyped": TableId("public", "retyped"),
    "truncated": TableId("public", "truncated"),
    "added": TableId("public", "added"),
    "parted": TableId("public", "parted"),
}

# run after the slot exists and before the snapshot locks the tables
RACING_DDL = [
    "ALTER TABLE dropped DROP COLUMN note",
    "ALTER TABLE retyped ALTER COLUMN qty TYPE bigint",  # rewrites the table
    "TRUNCATE truncated",
    "INSERT INTO truncated SELECT i, 'after ' || i FROM generate_series(1, 50) i",
    "ALTER TABLE added ADD COLUMN extra text DEFAULT 'x'",
    "TRUNCATE parted_b",  # one partition only
    "INSERT INTO parted SELECT i, 'again ' || i FROM generate_series(1000, 1500) i",
    "UPDATE dropped SET label = 'changed' WHERE id <= 10",
]


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("dropped", "truncated", "added"):
            conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, label text, note text)")
            conn.execute(
                f"INSERT INTO {name} SELECT i, 'label ' || i, 'note ' || i "
                "FROM generate_series(1, 2000) i"
            )
        conn.execute("CREATE TABLE retyped (id int PRIMARY KEY, qty int NOT NULL)")
        conn.execute("INSERT INTO retyped SELECT i, i * 3 FROM generate_series(1, 2000) i")
        conn.execute(
            "CREATE TABLE parted (id int, label text, PRIMARY KEY (id)) PARTITION BY RANGE (id)"
        )
        conn.execute("CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (1000)")
        conn.execute("CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (1000) TO (5000)")
        conn.execute("INSERT INTO parted SELECT i, 'p ' || i FROM generate_series(1, 2000) i")


@pytest.mark.parametrize("workers", [1, 3], ids=["one-reader", "three-readers"])
def test_ddl_between_slot_creation_and_snapshot_lock_loses_nothing(
    workers: int,
    pg_database: str,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _seed(pg_database)
    real_create_slot = getattr(connector_module, "create_slot")  # noqa: B009 (not exported)
    raced = threading.Event()

    def create_slot_then_ddl(*args: Any, **kwargs: Any) -> Any:
        created = real_create_slot(*args, **kwargs)
        with psycopg.connect(pg_database, autocommit=True) as conn:
            for statement in RACING_DDL:
                conn.execute(statement)
        raced.set()
        return created

    monkeypatch.setattr(connector_module, "create_slot", create_slot_then_ddl)
    caplog.set_level(logging.INFO, "strangler.connectors.postgres")
    # three readers: the slot's snapshot imported three times, then the rewritten tables under
    # a fresh snapshot that the first reader exports to the other two
    source = make_source(pg_database, tmp_path, topic_name, snapshot_workers=workers)
    running = Running(source, kafka_bootstrap, registry_url)
    assert raced.wait(60), "the connector did not create its slot"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO dropped (id, label) VALUES (5000, 'after the snapshot')")
        conn.execute("INSERT INTO retyped VALUES (5000, 900000)")
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    assert_topics_equal_tables(
        pg_database, kafka_bootstrap, registry_url, topic_name, list(TABLES.values())
    )
    warned = {
        r.getMessage().split(" was rewritten")[0]
        for r in caplog.records
        if "rewritten" in r.getMessage()
    }
    assert warned == {"public.retyped", "public.truncated", "public.parted"}
    if workers > 1:  # the slot's snapshot by three readers, then the rewritten tables' by three
        messages = [r.getMessage() for r in caplog.records]
        assert "snapshot: 5 tables read 3 at a time" in messages
        assert "snapshot: 3 tables read 3 at a time" in messages
