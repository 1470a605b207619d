"""kill -9 the connector (a real process, ``python -m strangler.cli.connect``) at random points,
mid-snapshot included, while a workload runs; restart it every time.

After each kill: every ledger row whose transaction certainly committed before the slot's
confirmed position is in its topic (nothing acknowledged to PostgreSQL is missing from Kafka).
At the end (a graceful SIGTERM stop): every topic equals its table, row by row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.integration.connectors.postgres.topic_state import (
    assert_topics_equal_tables,
    confirmed_lsn,
    registry_url,
    wait_caught_up,
)
from tests.support.topics import topic_rows

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]

KILLS = 20
SLOT = f"crash_{uuid.uuid4().hex[:12]}"  # slot names are cluster-wide
TABLES = [TableId("public", "accounts"), TableId("public", "ledger")]


class Workload(threading.Thread):
    """Small transactions until stopped: one ledger row each, plus account updates/deletes.
    Records (ledger id, an LSN at or after the transaction's commit)."""

    def __init__(self, dsn: str, accounts: int) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.accounts = accounts
        self.committed: list[tuple[int, Lsn]] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(7)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                next_id = 1
                while not self.halt.is_set():
                    self._step(conn, rng, next_id)
                    next_id += 1
                    time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _step(
        self, conn: psycopg.Connection[tuple[object, ...]], rng: random.Random, i: int
    ) -> None:
        with conn.transaction():
            conn.execute("INSERT INTO ledger VALUES (%s, %s)", (i, f"entry {i}"))
            k = rng.randint(1, self.accounts)
            if rng.random() < 0.2:
                conn.execute("DELETE FROM accounts WHERE id = %s", (k,))
            elif rng.random() < 0.3:
                conn.execute(
                    "INSERT INTO accounts VALUES (%s, 0, 'new') ON CONFLICT (id) DO UPDATE "
                    "SET note = 'upserted'",
                    (self.accounts + k,),
                )
            else:
                conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = %s", (k,))
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        self.committed.append((i, Lsn.parse(str(row[0]))))


def _pipeline(
    path: Path, dsn: str, bootstrap: str, registry: str, prefix: str, slot: str = SLOT, **extra: Any
) -> Path:
    config = {
        "name": "crash",
        "kafka": {"bootstrap_servers": bootstrap, "partitions": 2, "replication_factor": 1},
        "registry": {"url": registry},
        "sources": [
            {
                "type": "postgres",
                "name": "pg",
                "dsn": dsn,
                "slot": slot,
                "publication": "crash_pub",
                "topic_prefix": prefix,
                "tables": {"include": ["public.*"]},
                "snapshot": {"chunk_rows": 200},
                "state_dir": str(path / "state"),
                "status_interval_s": 0.1,
                **extra,
            }
        ],
    }
    file = path / "pipeline.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def _start(pipeline: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "strangler.cli.connect", str(pipeline)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _snapshot_complete(state: Path) -> bool:
    file = state / "pg.snapshot.json"
    if not file.exists():
        return False
    return all(done for _s, _n, done, _after in json.loads(file.read_text())["tables"])


def _assert_acknowledged_present(
    dsn: str, bootstrap: str, registry: str, prefix: str, workload: Workload, state: Path
) -> None:
    """Until the snapshot is complete the slot sits at its consistent point, which says
    nothing about Kafka; from then on it moves only over what Kafka acknowledged."""
    confirmed = confirmed_lsn(dsn, SLOT)
    if confirmed is None or not _snapshot_complete(state):
        return
    must = {i for i, lsn in list(workload.committed) if lsn <= confirmed}
    if not must:
        return
    ledger = topic_rows(bootstrap, registry, table_topic(prefix, TABLES[1]))
    present = {json.loads(k)["id"] for k in ledger}
    missing = sorted(must - present)
    assert not missing, f"acknowledged up to {confirmed} but missing ledger ids {missing[:10]}"


def _snapshot_partial(state: Path) -> bool:
    """True if the progress file shows a snapshot stopped after some chunks of a table."""
    file = state / "pg.snapshot.json"
    if not file.exists():
        return False
    tables = json.loads(file.read_text())["tables"]
    return any(not done and after is not None for _s, _n, done, after in tables)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the connector ended on its own"
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_kill_nine_at_random_points_loses_nothing(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    accounts = 60_000
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int, note text)")
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, entry text)")
        conn.execute(
            "INSERT INTO accounts SELECT g, g %% 100, repeat('n', g %% 50) "
            "FROM generate_series(1, %s) g",
            (accounts,),
        )
    pipeline = _pipeline(tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name)
    log = tmp_path / "connector.log"
    rng = random.Random(20)
    workload = Workload(pg_database, accounts)
    workload.start()
    partial_seen = False
    state = tmp_path / "state"
    process = _start(pipeline, log)
    try:
        for kill in range(KILLS):
            if kill == 0:  # mid-snapshot: once some chunks are acknowledged and recorded
                _wait_for(lambda: _snapshot_partial(state), process)
            elif kill < 3:  # the resumed snapshot, which may end before a partial state is seen
                _wait_for(lambda: _snapshot_partial(state) or _snapshot_complete(state), process)
                time.sleep(rng.uniform(0, 0.3))
            else:
                time.sleep(rng.uniform(0.3, 3.0))
            process.kill()
            process.wait()
            partial_seen = partial_seen or _snapshot_partial(state)
            if kill % 4 == 3:
                _assert_acknowledged_present(
                    pg_database, kafka_bootstrap, registry_url, topic_name, workload, state
                )
            process = _start(pipeline, log)
        workload.halt.set()
        workload.join()
        assert workload.error is None
        wait_caught_up(pg_database, SLOT, timeout=120)
        assert _snapshot_complete(state)
        _assert_acknowledged_present(
            pg_database, kafka_bootstrap, registry_url, topic_name, workload, state
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()[-3000:]
    finally:  # a failed assertion must not leave the connector holding the slot
        workload.halt.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert partial_seen, "no kill landed mid-snapshot after a chunk was acknowledged"
    assert_topics_equal_tables(pg_database, kafka_bootstrap, registry_url, topic_name, TABLES)
