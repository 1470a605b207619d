"""`strangler materialize` builds a SQLite view from a table topic published through our
registry, with a projection and a rename, and deletes what a tombstone deletes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from strangler.connectors.publisher import Publisher
from strangler.connectors.serialization import TableSerializer
from strangler.connectors.topics import ensure_compacted_topics
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.kafka import KafkaSettings, producer_config
from strangler.core.schema import Column, TableSchema
from tests.integration.connectors.test_publisher import ConfluentRegistrar
from tests.unit.connectors.test_acks import Seq

pytestmark = pytest.mark.e2e

TABLE = TableId("shop", "products")
SCHEMA = TableSchema(
    TABLE,
    (Column("id", "long", nullable=False), Column("name", "string"), Column("cost", "long")),
    key=("id",),
)

PIPELINE = """
name: e2e
kafka: {{bootstrap_servers: "{bootstrap}"}}
registry: {{url: "{registry}"}}
views:
  - name: orders_service
    target: {{sqlite: {{path: "{db}"}}}}
    topics:
      - topic: {topic}
        table: products
        columns: [id, name]
        rename: {{name: title}}
        position_kind: integer
"""


def publish(bootstrap: str, registry: str, topic: str) -> None:
    ensure_compacted_topics(
        AdminClient({"bootstrap.servers": bootstrap}), [topic], partitions=2, replication_factor=1
    )
    producer = Producer(producer_config(KafkaSettings(bootstrap_servers=bootstrap)))
    serializer = TableSerializer(ConfluentRegistrar(registry), namespace="strangler")
    publisher = Publisher(producer, serializer, lambda _t: topic, "integer")

    def row(op: Op, key: int, pos: int) -> ChangeEvent:
        after = None if op is Op.DELETE else {"id": key, "name": f"item {key}", "cost": key * 10}
        return ChangeEvent(TABLE, op, {"id": key}, None, after, Seq(pos))

    publisher.publish([row(Op.READ, k, 1) for k in range(1, 6)], {TABLE: SCHEMA}, Seq(1))
    publisher.publish([row(Op.DELETE, 2, 2), row(Op.UPDATE, 3, 2)], {TABLE: SCHEMA}, Seq(2))
    assert publisher.flush() == Seq(2)


def materialize_command(
    bootstrap: str, registry: str, topic: str, tmp_path: Path
) -> tuple[Path, list[str]]:
    """The view's database and the `strangler materialize` command of PIPELINE on ``topic``."""
    db = tmp_path / "orders.db"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(bootstrap=bootstrap, registry=registry, db=db, topic=topic))
    exe = Path(sys.executable).with_name("strangler")
    return db, [str(exe), "materialize", str(pipeline), "--idle-exit", "3"]


def test_materialize_builds_a_projected_renamed_view(
    kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    publish(kafka_bootstrap, registry_url, topic_name)
    db, command = materialize_command(kafka_bootstrap, registry_url, topic_name, tmp_path)
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, title FROM products ORDER BY id").fetchall()
        columns = [c[1] for c in conn.execute("PRAGMA table_info(products)")]
    assert rows == [(1, "item 1"), (3, "item 3"), (4, "item 4"), (5, "item 5")]
    assert "cost" not in columns and "title" in columns


def test_materialize_without_views_says_what_is_missing(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: x\nkafka: {bootstrap_servers: '127.0.0.1:1'}\n")
    exe = Path(sys.executable).with_name("strangler")
    result = subprocess.run(
        [str(exe), "materialize", str(pipeline)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "has no `views:` section" in result.stderr and "Traceback" not in result.stderr


def test_materialize_started_before_its_topic_waits_for_it(
    kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    db, command = materialize_command(kafka_bootstrap, registry_url, topic_name, tmp_path)
    view = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert view.stderr is not None
    waiting = f"waiting for topic {topic_name} to be created (is the connector running?)"
    lines = []
    for line in view.stderr:  # the view says what it waits for, once, and keeps waiting
        lines.append(line)
        if waiting in line:
            break
    assert view.poll() is None, "".join(lines)
    publish(kafka_bootstrap, registry_url, topic_name)  # the connector starts: the topic appears
    _, rest = view.communicate(timeout=120)
    assert view.returncode == 0, "".join(lines) + rest
    assert waiting not in rest and "Traceback" not in rest
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, title FROM products ORDER BY id").fetchall()
    assert rows == [(1, "item 1"), (3, "item 3"), (4, "item 4"), (5, "item 5")]
