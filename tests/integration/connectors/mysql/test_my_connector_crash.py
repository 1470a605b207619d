"""kill -9 the MySQL connector (a real process) at random points, mid-snapshot included, while a
workload runs; restart it every time.

After every few kills: every ledger row whose transaction committed at or before the stored
position is in its topic (nothing acknowledged is missing from Kafka). At the end (a graceful
SIGTERM stop, exit 0): every topic equals its table, row by row.

The connector process is this module run as a script (``python -m …test_my_connector_crash
<source json> <bootstrap> <registry>``): ``run_mysql_source`` with SIGTERM setting ``stop``.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pytest

from strangler.connectors.config import SnapshotSettings
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now, settings
from tests.integration.connectors.mysql.test_my_connector_support import (
    assert_topics_equal_tables,
    kafka_settings,
    make_source,
    reached,
    stored_position,
)
from tests.support.topics import topic_rows

pytestmark = pytest.mark.integration

KILLS = 20
ACCOUNTS = 20_000


class Workload(threading.Thread):
    """Small transactions until stopped: one ledger row each, plus account updates, deletes
    and upserts. Records (ledger id, the server's GTID position just after its commit)."""

    def __init__(self, db: MysqlDatabase) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.committed: list[tuple[int, BinlogPosition]] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(7)
        try:
            conn = pymysql.connect(**settings(self.db), database=self.db.name, autocommit=False)
            with conn, conn.cursor() as cur:
                i = 0
                while not self.halt.is_set():
                    i += 1
                    self._step(cur, rng, i)
                    conn.commit()
                    cur.execute("SELECT @@gtid_binlog_pos")
                    row = cur.fetchone()
                    assert row is not None
                    self.committed.append((i, BinlogPosition.parse(str(row[0]))))
                    time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _step(self, cur: Any, rng: random.Random, i: int) -> None:
        cur.execute("INSERT INTO ledger VALUES (%s, %s)", (i, f"entry {i}"))
        k = rng.randint(1, ACCOUNTS)
        if rng.random() < 0.2:
            cur.execute("DELETE FROM accounts WHERE id = %s", (k,))
        elif rng.random() < 0.3:
            cur.execute(
                "INSERT INTO accounts VALUES (%s, 0, 'new') "
                "ON DUPLICATE KEY UPDATE note = 'upserted'",
                (ACCOUNTS + k,),
            )
        else:
            cur.execute("UPDATE accounts SET balance = balance + 1 WHERE id = %s", (k,))


def _start(config: Path, bootstrap: str, registry: str, log: Path) -> subprocess.Popen[bytes]:
    module = "tests.integration.connectors.mysql.test_my_connector_crash"
    return subprocess.Popen(
        [sys.executable, "-m", module, str(config), bootstrap, registry],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _snapshot_partial(source: MysqlSource) -> bool:
    """True if the stored state shows a table stopped after some acknowledged chunks."""
    file = source.state_dir / f"{source.name}.offsets.json"
    try:
        tables = json.loads(file.read_text())["tables"]
    except (FileNotFoundError, ValueError):
        return False
    return any(not done and after is not None for _s, _n, done, after in tables)


def _snapshot_done(source: MysqlSource) -> bool:
    file = source.state_dir / f"{source.name}.offsets.json"
    try:
        tables = json.loads(file.read_text())["tables"]
    except (FileNotFoundError, ValueError):
        return False
    return len(tables) == 2 and all(done for _s, _n, done, _after in tables)


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the connector ended on its own"
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _assert_acknowledged_present(
    source: MysqlSource, bootstrap: str, registry: str, workload: Workload
) -> int:
    """Ledger ids committed at or before the stored position are all in the topic; returns
    how many that was. Only once the snapshot is complete: until then the stored position is
    where streaming will start, and the snapshot's rows are not all in Kafka yet."""
    stored = stored_position(source)
    if stored is None or stored.gtids is None or not _snapshot_done(source):
        return 0
    must = {i for i, position in list(workload.committed) if reached(stored, position)}
    if not must:
        return 0
    topic = table_topic(source.topic_prefix, TableId(workload.db.name, "ledger"))
    present = {json.loads(k)["id"] for k in topic_rows(bootstrap, registry, topic)}
    missing = sorted(must - present)
    assert not missing, f"stored {stored} but ledger ids {missing[:10]} are missing"
    return len(must)


def test_kill_nine_at_random_points_loses_nothing(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(
        db,
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT, note VARCHAR(60))",
        "CREATE TABLE ledger (id INT PRIMARY KEY, entry VARCHAR(40))",
        *(
            "INSERT INTO accounts VALUES "
            + ", ".join(f"({n}, {n % 100}, '{'n' * (n % 50)}')" for n in range(s, s + 5000))
            for s in range(1, ACCOUNTS + 1, 5000)
        ),
    )
    source = make_source(
        db, tmp_path / "state", topic_name, snapshot=SnapshotSettings(chunk_rows=300)
    )
    config = tmp_path / "source.json"
    config.write_text(json.dumps({**source.model_dump(mode="json"), "url": db.url}))
    log = tmp_path / "connector.log"
    rng = random.Random(20)
    workload = Workload(db)
    workload.start()
    partial_seen, checked = False, 0
    for kill in range(KILLS):
        process = _start(config, kafka_bootstrap, registry_url, log)
        if kill == 0:  # mid-snapshot: once some chunks are acknowledged and recorded
            _wait_for(lambda: _snapshot_partial(source), process)
        elif kill < 3:  # the resumed snapshot, which may end before a partial state is seen
            _wait_for(lambda: _snapshot_partial(source) or _snapshot_done(source), process)
            time.sleep(rng.uniform(0, 0.3))
        else:
            time.sleep(rng.uniform(0.5, 3.0))
        process.kill()
        process.wait()
        partial_seen = partial_seen or _snapshot_partial(source)
        if kill % 4 == 3:
            checked = max(
                checked,
                _assert_acknowledged_present(source, kafka_bootstrap, registry_url, workload),
            )
    workload.halt.set()
    workload.join()
    assert workload.error is None, workload.error
    target = position_now(db)
    process = _start(config, kafka_bootstrap, registry_url, log)
    _wait_for(lambda: _stored_reached(source, target), process)
    checked = max(
        checked, _assert_acknowledged_present(source, kafka_bootstrap, registry_url, workload)
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()[-3000:]
    assert partial_seen, "no kill landed mid-snapshot after a chunk was acknowledged"
    assert checked > 100, "too few acknowledged transactions were checked"
    tables = [TableId(db.name, "accounts"), TableId(db.name, "ledger")]
    assert_topics_equal_tables(db, kafka_bootstrap, registry_url, topic_name, tables)


def _stored_reached(source: MysqlSource, target: BinlogPosition) -> bool:
    stored = stored_position(source)
    return stored is not None and _snapshot_done(source) and reached(stored, target)


def main() -> None:
    """The connector process: run until SIGTERM, then stop gracefully (exit 0)."""
    import logging

    from strangler.connectors.mysql.connector import run_mysql_source

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config, bootstrap, registry = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    source = MysqlSource.model_validate_json(config.read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    run_mysql_source(source, kafka_settings(bootstrap), registry, stop)


if __name__ == "__main__":
    main()
