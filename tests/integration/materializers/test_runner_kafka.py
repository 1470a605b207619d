"""The view runner through a real Kafka broker into real SQLite and PostgreSQL views:
randomized workload, multiple partitions, truncates, schema change, bad records."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from confluent_kafka import Producer

from strangler.core.kafka import KafkaSettings, producer_config
from strangler.materializers.errors import ViewStopped
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.sqlite_target import SqliteTarget
from tests.integration.materializers.views import (
    matches,
    postgres_rows,
    sqlite_rows,
    view_config,
)
from tests.integration.materializers.workload import (
    SCHEMAS,
    Publisher,
    create_topic,
    random_events,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def publisher(settings: KafkaSettings, topic_name: str) -> Publisher:
    create_topic(settings.bootstrap_servers, topic_name, 3)
    return Publisher(settings, topic_name, 3)


def test_sqlite_and_postgres_views_equal_the_replay(
    settings: KafkaSettings, publisher: Publisher, tmp_path: Path, pg_database: str
) -> None:
    rng = random.Random(7)
    publisher.publish(random_events(rng, 1500, 120))
    db = tmp_path / "view.db"
    lite = view_config("lite", publisher.topic, {"sqlite": {"path": str(db)}})
    pg = view_config("pg", publisher.topic, {"postgres": {"dsn": pg_database, "schema": "v"}})
    ViewRunner(lite, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=3)
    runner = ViewRunner(pg, settings, StaticSchemas(SCHEMAS), PostgresTarget(pg_database, "v"))
    runner.run(idle_exit_s=3)
    assert matches(sqlite_rows(db), publisher.expected())
    assert matches(postgres_rows(pg_database, "v"), publisher.expected())
    publisher.publish(random_events(rng, 500, 120))  # resume from the stored offsets
    ViewRunner(lite, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=3)
    assert matches(sqlite_rows(db), publisher.expected())


def test_bad_records_go_to_the_dead_letter_table(
    settings: KafkaSettings, publisher: Publisher, tmp_path: Path
) -> None:
    publisher.publish(random_events(random.Random(1), 50, 10))
    producer = Producer(producer_config(settings))
    producer.produce(publisher.topic, b"not avro", b"\x00\x00\x00\x00\x01", 1, headers=[])
    assert producer.flush(10) == 0
    publisher.publish(random_events(random.Random(2), 50, 10))
    db = tmp_path / "view.db"
    view = view_config("dl", publisher.topic, {"sqlite": {"path": str(db)}})
    ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=3)
    assert matches(sqlite_rows(db), publisher.expected())
    conn = sqlite3.connect(db)
    letters = conn.execute(
        'SELECT "topic", "partition", "value", "error" FROM "_strangler_dead_letters"'
    ).fetchall()
    assert [(t, p, v) for t, p, v, _ in letters] == [(publisher.topic, 1, b"not avro")]
    assert "position" in letters[0][3]


def test_stop_policy_stops_at_the_bad_record(
    settings: KafkaSettings, publisher: Publisher, tmp_path: Path
) -> None:
    producer = Producer(producer_config(settings))
    producer.produce(publisher.topic, b"junk", b"junk", 0, headers=[("position", b"0/1")])
    assert producer.flush(10) == 0
    db = tmp_path / "view.db"
    view = view_config("st", publisher.topic, {"sqlite": {"path": str(db)}}, on_bad_record="stop")
    runner = ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db))
    with pytest.raises(ViewStopped, match="too short for the Confluent wire format"):
        runner.run(idle_exit_s=5)
