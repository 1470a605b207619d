"""Exactly-once mode: a connector process killed with -9 at random points while rows are
inserted, restarted each time; a read_committed consumer sees every streamed row exactly once
(no duplicate at all), and the topics still equal the tables."""

from __future__ import annotations

import random
import signal
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from strangler.connectors.topics import table_topic
from tests.integration.connectors.postgres.test_pg_connector_crash import (
    TABLES,
    Workload,
    _pipeline,
    _snapshot_complete,
    _start,
)
from tests.integration.connectors.postgres.topic_state import (
    assert_topics_equal_tables,
    registry_url,
    wait_caught_up,
)
from tests.support.kafka import consume_all

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]

KILLS = 8


def test_kill_nine_in_exactly_once_mode_duplicates_nothing(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    slot = f"eos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int, note text)")
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, entry text)")
        conn.execute("INSERT INTO accounts SELECT g, 0, 'n' FROM generate_series(1, 500) g")
    pipeline = _pipeline(
        tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name, slot, exactly_once=True
    )
    log = tmp_path / "connector.log"
    process = _start(pipeline, log)
    deadline = time.monotonic() + 60
    while not _snapshot_complete(tmp_path / "state"):  # the ledger is streamed, not snapshotted
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    workload = Workload(pg_database, 500)
    workload.start()
    rng = random.Random(8)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.5))
        process.kill()
        process.wait()
        process = _start(pipeline, log)
    workload.halt.set()
    workload.join()
    assert workload.error is None
    wait_caught_up(pg_database, slot, timeout=120)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()[-3000:]
    ledger = consume_all(kafka_bootstrap, table_topic(topic_name, TABLES[1]), expect=0)
    ids = [m.key() for m in ledger]  # one record per inserted ledger row (key bytes)
    assert len(ids) == len(workload.committed) and len(set(ids)) == len(ids)
    assert_topics_equal_tables(pg_database, kafka_bootstrap, registry_url, topic_name, TABLES)
