"""``strangler run`` as a user runs it: a PostgreSQL source and a SQLite view in one process,
rows flowing end to end, /metrics scraped, ``status --json`` while it runs, SIGTERM → exit 0,
and a restart that resumes without duplicates; ``status`` with Kafka unreachable."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from confluent_kafka.admin import AdminClient

from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.headers import header_value
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute
from tests.integration.connectors.postgres.topic_state import registry_url
from tests.support.cli import STRANGLER, strangler
from tests.support.kafka import consume_all
from tests.support.processes import wait_while_running as wait_for

pytestmark = pytest.mark.e2e
__all__ = ["registry_url"]
TABLE = TableId("public", "products")


def pipeline_file(
    tmp: Path, dsn: str, bootstrap: str, registry: str, prefix: str, slot: str
) -> Path:
    """A pipeline of one PostgreSQL source (every public table) and one SQLite view."""
    config = {
        "name": "e2e",
        "kafka": {"bootstrap_servers": bootstrap, "replication_factor": 1, "partitions": 2},
        "registry": {"url": registry},
        "sources": [
            {
                "name": "shop",
                "dsn": dsn,
                "slot": slot,
                "publication": f"{slot}_pub",
                "topic_prefix": prefix,
                "tables": {"include": ["public.*"]},
                "state_dir": str(tmp / "state"),
                "status_interval_s": 0.1,
                "snapshot": {"chunk_rows": 50},
            }
        ],
        "views": [
            {
                "name": "catalogue",
                "target": {"sqlite": {"path": str(tmp / "view.db")}},
                "topics": [{"topic": table_topic(prefix, TABLE), "columns": ["id", "name"]}],
            }
        ],
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def products_pipeline(
    tmp: Path, dsn: str, bootstrap: str, registry: str, prefix: str, rows: int
) -> tuple[Path, str]:
    """A products table of ``rows`` rows and a pipeline capturing it (with its slot's name)."""
    slot = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE products (id int PRIMARY KEY, name text)")
        conn.execute(
            "INSERT INTO products SELECT g, 'item ' || g FROM generate_series(1, %s) g", (rows,)
        )
    return pipeline_file(tmp, dsn, bootstrap, registry, prefix, slot), slot


def mysql_pipeline(
    tmp: Path, db: MysqlDatabase, bootstrap: str, registry: str, prefix: str, **source: Any
) -> Path:
    """A pipeline of one MySQL/MariaDB source capturing ``<db>.items``."""
    config = {
        "name": "my-e2e",
        "kafka": {"bootstrap_servers": bootstrap, "replication_factor": 1},
        "registry": {"url": registry},
        "sources": [
            {
                "type": "mysql", "name": "inventory", "url": db.url,
                "server_id": 7000 + uuid.uuid4().int % 1000, "topic_prefix": prefix,
                "state_dir": str(tmp / "state"), "tables": {"include": [f"{db.name}.items"]},
                **source,
            }
        ],
    }  # fmt: skip
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_run(pipeline: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STRANGLER, "run", str(pipeline), "--metrics-port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def view_rows(path: Path) -> dict[int, str]:
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        try:
            return dict(db.execute("SELECT id, name FROM products").fetchall())
        except sqlite3.OperationalError:  # the table is not created yet
            return {}


def table_now(dsn: str) -> dict[int, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT id, name FROM products").fetchall())


def scrape(port: int) -> dict[str, float]:
    """The samples of /metrics, ``name{labels}`` → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def status(pipeline: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return strangler("status", str(pipeline), *extra, timeout=60)


def stop(process: subprocess.Popen[str]) -> float:
    """SIGTERM; the seconds until it exited (asserting exit 0)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-3000:]
    return time.monotonic() - started


def test_run_metrics_status_sigterm_and_restart(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    pipeline, _ = products_pipeline(
        tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name, 120
    )
    view = tmp_path / "view.db"
    port = free_port()
    process = start_run(pipeline, port)
    wait_for(lambda: len(view_rows(view)) == 120, process)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE products SET name = 'lamp' WHERE id = 1")
        conn.execute("DELETE FROM products WHERE id = 2")
        conn.execute("INSERT INTO products VALUES (121, 'desk')")
    wait_for(lambda: view_rows(view) == table_now(pg_database), process)
    # view lag is measured once a second: the view may catch up before its first measurement
    wait_for(
        lambda: any(k.startswith("strangler_view_lag_records{") for k in scrape(port)), process
    )

    samples = scrape(port)
    assert samples["strangler_up"] == 1
    assert samples['strangler_source_snapshot_rows_total{source="shop"}'] == 120
    assert samples['strangler_source_events_total{source="shop"}'] >= 3
    assert samples['strangler_source_streaming{source="shop"}'] == 1
    assert samples['strangler_view_applied_records_total{view="catalogue"}'] >= 123
    assert any(k.startswith("strangler_view_lag_records{") for k in samples)
    assert any(k.startswith("strangler_source_lag_bytes{") for k in samples)

    def caught_up() -> bool:
        result = status(pipeline, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        (source,) = report["sources"]
        (view_row,) = report["views"]
        return bool(source["state"] == "streaming" and view_row["lag_records"] == 0)

    wait_for(caught_up, process)
    report = json.loads(status(pipeline, "--json").stdout)
    (source,) = report["sources"]
    assert re.match(r"^[0-9A-F]+/[0-9A-F]+$", source["position"]) and source["restart_lsn"]
    (table,) = report["tables"]
    assert table["snapshot"] == "done" and table["records"] == 123
    assert table["last_event"] is not None
    readable = status(pipeline)
    assert "streaming" in readable.stdout and "catalogue" in readable.stdout, readable.stdout

    assert stop(process) < 15
    records_before = len(consume_all(kafka_bootstrap, table_topic(topic_name, TABLE), 123))
    stopped = json.loads(status(pipeline, "--json").stdout)
    assert stopped["sources"][0]["state"] == "stopped"

    process = start_run(pipeline, free_port(), "--idle-exit", "4")
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO products VALUES (122, 'chair')")
    wait_for(lambda: view_rows(view) == table_now(pg_database), process)
    _, stderr = process.communicate(timeout=30)  # idle views stop the whole run
    assert process.returncode == 0, stderr[-3000:]
    records = consume_all(kafka_bootstrap, table_topic(topic_name, TABLE), records_before + 1)
    assert len(records) == records_before + 1  # no snapshot again, no change twice
    assert [header_value(r.headers(), "op") for r in records].count("r") == 120


def test_status_shows_unreachable_services(tmp_path: Path, pg_database: str) -> None:
    pipeline = pipeline_file(
        tmp_path, pg_database, "127.0.0.1:1", "http://127.0.0.1:1", "unreachable", "e2e_none"
    )
    data: dict[str, Any] = yaml.safe_load(pipeline.read_text())
    data["sources"].append({**data["sources"][0], "name": "gone", "slot": "e2e_gone",
                            "dsn": "postgresql://postgres@127.0.0.1:1/x"})  # fmt: skip
    pipeline.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    result = status(pipeline)
    assert result.returncode == 3, result.stderr  # 3: some service is unreachable
    assert time.monotonic() - started < 30
    assert "Traceback" not in result.stderr
    assert "unreachable" in result.stdout
    assert "pg_isready -h 127.0.0.1 -p 1" in result.stdout
    assert "check that the brokers run" in result.stdout
    report = json.loads(status(pipeline, "--json").stdout)
    services = {p["service"] for p in report["unreachable"]}
    assert services == {"kafka", "source gone"}
    states = {s["source"]: s["state"] for s in report["sources"]}
    assert states == {"shop": "not started", "gone": "unreachable"}


def test_a_failing_part_stops_the_run_with_its_exit_code(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    pipeline, _ = products_pipeline(
        tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name, 1
    )
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE logs (line text)")  # no key: the source's preflight fails
    process = start_run(pipeline, 0)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr[-3000:]  # the preflight's code; the views stopped too
    assert "public.logs: has no primary key and no configured key" in stderr
    assert "Traceback" not in stderr


def test_run_and_status_of_a_mysql_source(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    execute(mysql_database, "CREATE TABLE items (id INT PRIMARY KEY, n INT)",
            "INSERT INTO items VALUES (1, 1), (2, 2)")  # fmt: skip
    pipeline = mysql_pipeline(
        tmp_path, mysql_database, kafka_bootstrap, registry_url, topic_name, position_mode="file"
    )
    port = free_port()
    process = start_run(pipeline, port)
    items = TableId(mysql_database.name, "items")

    def snapshotted() -> bool:
        report = json.loads(status(pipeline, "--json").stdout)
        return bool(report["tables"] and report["tables"][0]["snapshot"] == "done")

    wait_for(snapshotted, process)
    execute(mysql_database, "UPDATE items SET n = 3 WHERE id = 1")
    wait_for(
        lambda: scrape(port)['strangler_source_events_total{source="inventory"}'] >= 1, process
    )
    stop(process)
    report = json.loads(status(pipeline, "--json").stdout)
    (source,) = report["sources"]
    assert source["state"] == "stopped" and ":" in source["position"], source
    assert source["lag_bytes"] is not None and source["lag_bytes"] >= 0
    (table,) = report["tables"]
    assert table["table"] == str(items) and table["records"] == 3
    queued = strangler("snapshot", str(pipeline), "--table", str(items), timeout=60)
    assert queued.returncode == 0, queued.stderr  # the stopped connector takes it when it runs
    assert len(list((tmp_path / "state" / "inventory.signals").glob("*.json"))) == 1


def test_reading_a_kafka_offset_store_never_creates_its_topic(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    offsets = f"{topic_name}.offsets"
    pipeline = mysql_pipeline(
        tmp_path, mysql_database, kafka_bootstrap, registry_url, topic_name,
        offsets={"store": "kafka", "topic": offsets},
    )  # fmt: skip
    report = json.loads(status(pipeline, "--json").stdout)
    assert report["sources"][0]["state"] == "not started", report
    shown = strangler("offsets", "show", str(pipeline), "--json", timeout=60)
    assert shown.returncode == 0, shown.stderr
    (source,) = json.loads(shown.stdout)["sources"]
    assert (source["position"], source["store"]) == (None, f"kafka topic {offsets}")
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert offsets not in topics  # a read-only command creates nothing
