"""``strangler snapshot --table``: a table re-snapshotted by the running connector while a writer
keeps updating, inserting and deleting its rows; afterwards the compacted topic's latest state
and the view both equal the table (a chunk row read before a concurrent change never lands
after that change's event)."""

from __future__ import annotations

import json
import random
import subprocess
import threading
from pathlib import Path

import psycopg
import pymysql
import pytest
import yaml

from strangler.cli.config import load_pipeline
from strangler.cli.devstack.smoke import mysql_settings
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.resnapshot import RequestFile
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.headers import header_value
from tests.e2e.test_run_status_cli import (
    TABLE,
    free_port,
    mysql_pipeline,
    pipeline_file,
    products_pipeline,
    start_run,
    status,
    stop,
    table_now,
    view_rows,
)
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now
from tests.integration.connectors.mysql.test_my_connector_support import (
    reached,
    stored_position,
)
from tests.integration.connectors.mysql.test_my_connector_support import (
    table_rows as mysql_table_rows,
)
from tests.integration.connectors.postgres.topic_state import (
    registry_url,
    table_rows,
    wait_caught_up,
)
from tests.support.cli import strangler
from tests.support.kafka import consume_all
from tests.support.processes import wait_while_running as wait_for
from tests.support.topics import assert_same_rows, topic_rows

pytestmark = pytest.mark.e2e
__all__ = ["registry_url"]
ROWS = 1500


class Writer(threading.Thread):
    """Updates, inserts and deletes rows of products, one small transaction at a time."""

    def __init__(self, dsn: str, *, updates_only: bool = False, pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.updates_only = updates_only
        self.pause = pause
        self.halt = threading.Event()
        self.changes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(7)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.halt.wait(self.pause):
                    self._change(conn, rng)
                    self.changes += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _change(self, conn: psycopg.Connection[tuple[object, ...]], rng: random.Random) -> None:
        key = rng.randint(1, ROWS + 300)
        kind = 0.0 if self.updates_only else rng.random()
        if kind < 0.7:
            conn.execute("UPDATE products SET name = %s WHERE id = %s", (f"v{self.changes}", key))
        elif kind < 0.85:
            conn.execute(
                "INSERT INTO products VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                "SET name = excluded.name",
                (key, f"new{self.changes}"),
            )
        else:
            conn.execute("DELETE FROM products WHERE id = %s", (key,))


def resnapshot_during(
    writer: Writer, process: subprocess.Popen[str], pipeline: Path, table: str
) -> tuple[subprocess.CompletedProcess[str], int]:
    """``snapshot --wait`` of ``table`` while ``writer`` runs; the result, and how many
    changes the writer had made by the time it returned."""
    writer.start()
    try:
        wait_for(lambda: writer.changes > 50, process)
        result = strangler(
            "snapshot", str(pipeline), "--table", table, "--wait", "--timeout", "120", timeout=180
        )
        return result, writer.changes
    finally:
        writer.halt.set()
        writer.join(10)
        assert writer.error is None, writer.error


def test_resnapshot_while_a_writer_changes_the_table(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    pipeline, slot = products_pipeline(
        tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name, ROWS
    )
    view = tmp_path / "view.db"
    process = start_run(pipeline, free_port())
    wait_for(lambda: len(view_rows(view)) == ROWS, process)

    result, during = resnapshot_during(Writer(pg_database), process, pipeline, "public.products")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "re-snapshot of public.products requested" in result.stdout
    assert "the connector is streaming" in result.stdout
    assert "re-snapshot of public.products done" in result.stdout
    assert during > 100, "the writer should have run throughout the re-snapshot"

    wait_caught_up(pg_database, slot)
    topic = table_topic(topic_name, TABLE)
    want = table_rows(pg_database, TABLE, registry_url, topic_name)
    assert_same_rows(TABLE, want, topic_rows(kafka_bootstrap, registry_url, topic))
    wait_for(lambda: view_rows(view) == table_now(pg_database), process)

    reads = [header_value(m.headers(), "op") for m in consume_all(kafka_bootstrap, topic, 0)]
    # the initial snapshot, then rows again: how many depends on how many keys the unpaced
    # writer changed inside the chunk windows (those are left to the stream), so only a floor
    assert reads.count("r") > ROWS + ROWS // 10
    report = json.loads(status(pipeline, "--json").stdout)
    (table,) = report["tables"]
    assert table["resnapshot"].startswith("done ("), table
    refused = strangler("snapshot", str(pipeline), "--table", "public.nosuch", "--wait", timeout=60)
    assert refused.returncode == 1
    assert "re-snapshot rejected: public.nosuch is not captured by this source" in refused.stderr
    stop(process)


def test_snapshot_of_an_unknown_source_or_bad_table(tmp_path: Path, pg_database: str) -> None:
    pipeline = pipeline_file(
        tmp_path, pg_database, "127.0.0.1:1", "http://127.0.0.1:1", "x", "e2e_nope"
    )
    bad = strangler("snapshot", str(pipeline), "--table", "products", timeout=60)
    assert bad.returncode == 2 and "is not schema.table" in bad.stderr
    no_slot = strangler("snapshot", str(pipeline), "--table", "public.products", timeout=60)
    assert no_slot.returncode == 4, no_slot.stderr
    assert "has no replication slot e2e_nope yet" in no_slot.stderr


def test_a_killed_resnapshot_resumes_after_its_last_acknowledged_chunk(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    pipeline, slot = products_pipeline(
        tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name, 2000
    )
    config = yaml.safe_load(pipeline.read_text())
    config["sources"][0]["snapshot"]["chunk_rows"] = 10  # 200 chunks: time to kill it midway
    pipeline.write_text(yaml.safe_dump(config))
    requests = RequestFile(tmp_path / "state" / "shop.incremental.json")
    process = start_run(pipeline, free_port())
    wait_for(lambda: len(view_rows(tmp_path / "view.db")) == 2000, process)
    # the table keeps its 2000 keys; a gentler writer (the stream, and each chunk's watermark
    # with it, would lag behind a flat-out one on this machine's two cores)
    writer = Writer(pg_database, updates_only=True, pause=0.003)
    writer.start()
    try:
        asked = strangler("snapshot", str(pipeline), "--table", "public.products", timeout=60)
        assert asked.returncode == 0, asked.stderr
        wait_for(lambda: any(r.chunks >= 5 for r in requests.load()), process, timeout=60)
        process.kill()
        process.wait(10)
        (midway,) = requests.load()
        assert midway.state == "running" and midway.after is not None
        process = start_run(pipeline, free_port())
        wait_for(lambda: requests.load()[0].state == "done", process, timeout=120)
    finally:
        writer.halt.set()
        writer.join(10)
    assert writer.error is None, writer.error
    (done,) = requests.load()
    # every key in one chunk, once, but the chunk in flight at the kill (read again): no
    # second pass from the start
    assert done.chunks > midway.chunks and 2000 <= done.rows + done.dropped <= 2000 + 10
    wait_caught_up(pg_database, slot)
    topic = table_topic(topic_name, TABLE)
    want = table_rows(pg_database, TABLE, registry_url, topic_name)
    assert_same_rows(TABLE, want, topic_rows(kafka_bootstrap, registry_url, topic))
    stop(process)


class MysqlWriter(Writer):
    """The same workload on a MySQL/MariaDB table."""

    def __init__(self, db: MysqlDatabase) -> None:
        # paced, so the stream keeps up and a chunk published late would land after newer
        # changes (a flat-out writer keeps the stream so far behind that it never could)
        super().__init__("", pause=0.002)
        self.db = db

    def run(self) -> None:
        rng = random.Random(11)
        try:
            conn = pymysql.connect(**mysql_settings(self.db.url), database=self.db.name,
                                   autocommit=True)  # fmt: skip
            with conn.cursor() as cur:
                while not self.halt.wait(self.pause):
                    key, kind = rng.randint(1, ROWS + 300), rng.random()
                    if kind < 0.7:
                        cur.execute("UPDATE items SET n = %s WHERE id = %s", (self.changes, key))
                    elif kind < 0.85:
                        cur.execute("REPLACE INTO items VALUES (%s, %s)", (key, -self.changes))
                    else:
                        cur.execute("DELETE FROM items WHERE id = %s", (key,))
                    self.changes += 1
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def test_mysql_resnapshot_while_a_writer_changes_the_table(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    execute(mysql_database, "CREATE TABLE items (id INT PRIMARY KEY, n INT)",
            "INSERT INTO items SELECT seq, seq FROM seq_1_to_1500")  # fmt: skip
    table = TableId(mysql_database.name, "items")
    pipeline = mysql_pipeline(
        tmp_path, mysql_database, kafka_bootstrap, registry_url, topic_name,
        store_interval_s=0.2, snapshot={"chunk_rows": 50},
    )  # fmt: skip
    (source,) = load_pipeline(pipeline).sources
    assert isinstance(source, MysqlSource)
    process = start_run(pipeline, free_port())
    wait_for(lambda: stored_position(source) is not None, process)
    wait_for(lambda: reached(stored_position(source) or position_now(mysql_database),
                             position_now(mysql_database)), process)  # fmt: skip
    result, during = resnapshot_during(MysqlWriter(mysql_database), process, pipeline, str(table))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"re-snapshot of {table} done: " in result.stdout
    assert during > 100, "the writer should have run throughout the re-snapshot"
    target = position_now(mysql_database)
    wait_for(lambda: reached(stored_position(source) or target, target), process)
    stop(process)
    want = mysql_table_rows(mysql_database, table, registry_url, topic_name)
    topic = table_topic(topic_name, table)
    assert_same_rows(table, want, topic_rows(kafka_bootstrap, registry_url, topic))
    reads = [header_value(m.headers(), "op") for m in consume_all(kafka_bootstrap, topic, 0)]
    # the initial snapshot, then rows again: how many depends on how many keys the unpaced
    # writer changed inside the chunk windows (those are left to the stream), so only a floor
    assert reads.count("r") > ROWS + ROWS // 10
