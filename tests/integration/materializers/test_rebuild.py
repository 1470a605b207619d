"""Rebuild from the beginning of the topic into a shadow table and swap it in atomically, on
real Kafka into SQLite and PostgreSQL; the old table serves reads until the swap."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import psycopg
import pytest

from strangler.core.kafka import KafkaSettings
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.rebuild import Rebuild
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.sqlite_target import SqliteTarget
from tests.integration.materializers.views import matches, postgres_rows, sqlite_rows, view_config
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
    create_topic(settings.bootstrap_servers, topic_name, 2)
    publisher = Publisher(settings, topic_name, 2)
    publisher.publish(random_events(random.Random(3), 800, 100))
    return publisher


def test_sqlite_rebuild_swaps_in_a_fresh_copy(
    settings: KafkaSettings, publisher: Publisher, tmp_path: Path
) -> None:
    db = tmp_path / "view.db"
    view = view_config("rb", publisher.topic, {"sqlite": {"path": str(db)}})
    ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=3)
    with sqlite3.connect(db) as conn:  # damage the live copy: the rebuild must not care
        conn.execute('DELETE FROM "items" WHERE "id" % 2 = 0')
    damaged = sqlite_rows(db)
    publisher.publish(random_events(random.Random(4), 200, 100))
    reader = sqlite3.connect(db)
    reader.execute("BEGIN")
    before = reader.execute('SELECT count(*) FROM "items"').fetchone()
    Rebuild(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run()
    assert reader.execute('SELECT count(*) FROM "items"').fetchone() == before  # old snapshot
    reader.rollback()
    assert matches(sqlite_rows(db), publisher.expected())
    assert sqlite_rows(db) != damaged
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
    assert not any("shadow" in t for t in tables)
    publisher.publish(random_events(random.Random(5), 100, 100))  # and it goes on from there
    ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=3)
    assert matches(sqlite_rows(db), publisher.expected())


def test_postgres_rebuild_swaps_in_a_fresh_copy(
    settings: KafkaSettings, publisher: Publisher, pg_database: str
) -> None:
    view = view_config("rbpg", publisher.topic, {"postgres": {"dsn": pg_database, "schema": "v"}})
    runner = ViewRunner(view, settings, StaticSchemas(SCHEMAS), PostgresTarget(pg_database, "v"))
    runner.run(idle_exit_s=3)
    with psycopg.connect(pg_database) as conn:
        conn.execute('UPDATE "v"."items" SET "name" = \'damaged\'')
    Rebuild(view, settings, StaticSchemas(SCHEMAS), PostgresTarget(pg_database, "v")).run()
    assert matches(postgres_rows(pg_database, "v"), publisher.expected())
