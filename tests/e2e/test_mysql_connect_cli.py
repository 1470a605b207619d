"""`strangler connect` with a `type: mysql` source: preflight with --check, a run stopped by
SIGTERM after the table reached its topic, and --teardown."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Message

from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute
from tests.support.cli import STRANGLER, strangler
from tests.support.kafka import consume_all

pytestmark = pytest.mark.e2e

PIPELINE = """
name: my-e2e
kafka: {{bootstrap_servers: "{bootstrap}"}}
registry: {{url: "{registry}"}}
sources:
  - type: mysql
    name: inventory
    url: "{url}"
    server_id: 7311
    topic_prefix: {prefix}
    state_dir: "{state}"
    tables: {{include: ["{db}.items"]}}
"""


def test_check_run_and_teardown(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    execute(mysql_database, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))",
            "INSERT INTO items VALUES (1, 'bolt'), (2, 'nut')")  # fmt: skip
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        PIPELINE.format(
            bootstrap=kafka_bootstrap,
            registry=registry_url,
            url=mysql_database.url,
            prefix=topic_name,
            state=tmp_path / "state",
            db=mysql_database.name,
        )
    )

    check = strangler("connect", str(pipeline), "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "inventory: preflight passed; 1 table(s) captured" in check.stdout

    run = subprocess.Popen(
        [STRANGLER, "connect", str(pipeline)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    topic = f"{topic_name}.{mysql_database.name}.items"
    deadline = time.monotonic() + 60
    records: list[Message] = []
    while len(records) < 2 and time.monotonic() < deadline:
        time.sleep(1)
        try:
            records = consume_all(kafka_bootstrap, topic, expect=2, timeout=5)
        except KeyError:  # the topic does not exist yet
            continue
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    assert len(records) == 2, output

    teardown = strangler("connect", str(pipeline), "--teardown")
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    assert teardown.stdout.startswith("inventory: dropped")
