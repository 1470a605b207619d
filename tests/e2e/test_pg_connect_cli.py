"""``strangler connect`` as a user runs it: preflight with --check, a run stopped by SIGTERM
that flushes and confirms, --teardown, and the exit codes of a failed preflight and a bad
file."""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.integration.connectors.postgres.topic_state import (
    confirmed_lsn,
    current_lsn,
    registry_url,
)
from tests.support.cli import STRANGLER, strangler
from tests.support.processes import wait_while_running
from tests.support.topics import topic_rows

pytestmark = pytest.mark.e2e
SLOT = f"e2e_{uuid.uuid4().hex[:12]}"  # slot names are cluster-wide
__all__ = ["registry_url"]


def _pipeline(tmp: Path, dsn: str, bootstrap: str, registry: str, prefix: str) -> Path:
    config = {
        "name": "e2e",
        "kafka": {"bootstrap_servers": bootstrap, "replication_factor": 1},
        "registry": {"url": registry},
        "sources": [
            {
                "name": "shop",
                "dsn": dsn,
                "slot": SLOT,
                "publication": "e2e_pub",
                "topic_prefix": prefix,
                "tables": {"include": ["public.*"]},
                "state_dir": str(tmp / "state"),
                "status_interval_s": 0.1,
            }
        ],
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _connect(*args: str) -> subprocess.CompletedProcess[str]:
    return strangler("connect", *args)


def test_check_run_sigterm_and_teardown(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE products (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO products VALUES (1, 'lamp'), (2, 'desk')")
    pipeline = _pipeline(tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name)

    checked = _connect(str(pipeline), "--check")
    assert checked.returncode == 0, checked.stderr
    assert "shop: preflight passed; 1 table(s) captured" in checked.stdout

    process = subprocess.Popen(
        [STRANGLER, "connect", str(pipeline)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = tmp_path / "state" / "shop.snapshot.json"
    wait_while_running(log.exists, process)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE products SET name = 'lamp v2' WHERE id = 1")
        conn.execute("DELETE FROM products WHERE id = 2")
    target = current_lsn(pg_database)
    wait_while_running(lambda: (confirmed_lsn(pg_database, SLOT) or target) > target, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    assert "signal 15: stopping" in stderr
    rows = topic_rows(
        kafka_bootstrap, registry_url, table_topic(topic_name, TableId("public", "products"))
    )
    assert list(rows.values()) == [{"id": 1, "name": "lamp v2"}]

    torn = _connect(str(pipeline), "--teardown")
    assert torn.returncode == 0, torn.stderr
    assert f"dropped slot {SLOT}, publication e2e_pub" in torn.stdout
    assert confirmed_lsn(pg_database, SLOT) is None


def test_failed_preflight_exits_2_with_the_fix(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE logs (line text)")
    pipeline = _pipeline(tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name)
    result = _connect(str(pipeline))
    assert result.returncode == 2
    assert "public.logs: has no primary key and no configured key" in result.stderr
    assert "fix: ALTER TABLE" in result.stderr
    assert confirmed_lsn(pg_database, SLOT) is None  # nothing was created


def test_config_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: x\nkafka: {bootstrap_servers: a}\nregistry: {url: u}\nviews: [{any: 1}]\n"
        "sources:\n"
        "  - {name: s, dsn: d, slot: s, publication: p, topic_prefix: t,\n"
        "     tables: {include: [public.*]}, snapshot: {mode: sometimes}}\n"
    )
    result = _connect(str(path))
    assert result.returncode == 2
    # the whole file is validated, every problem with its line
    assert "bad.yaml:7" in result.stderr and "snapshot.mode" in result.stderr
    assert "bad.yaml:4" in result.stderr and "views.0.any: unknown key" in result.stderr
