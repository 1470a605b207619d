"""Unchanged TOAST values on updates, with large (out-of-line) values: never published as a
placeholder. With replica_identity_full the real value is filled from the old image; without
it, the connector stops with an explanation and publishes nothing of that row."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.schema import SchemaError
from tests.integration.connectors.postgres.topic_state import (
    Running,
    assert_topics_equal_tables,
    registry_url,
    wait_caught_up,
)
from tests.integration.connectors.postgres.topic_state import make_source as _make_source
from tests.support.topics import topic_rows

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]

DOCS = TableId("public", "docs")


def _setup(dsn: str) -> str:
    big = os.urandom(40_000).hex()  # incompressible: stored out of line (TOAST)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE docs (id int PRIMARY KEY, title text, body text)")
        conn.execute("INSERT INTO docs VALUES (1, 'first', %s), (2, 'second', %s)", (big, big))
    return big


def test_unchanged_large_value_is_filled_with_full_replica_identity(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    big = _setup(pg_database)
    source = _make_source(pg_database, tmp_path, topic_name, replica_identity_full=True)
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE docs SET title = 'renamed' WHERE id = 1")  # body not touched
    wait_caught_up(pg_database, source.slot, running=running)
    running.finish()
    rows = topic_rows(kafka_bootstrap, registry_url, table_topic(topic_name, DOCS))
    assert {r["id"]: (r["title"], r["body"] == big) for r in rows.values()} == {
        1: ("renamed", True),
        2: ("second", True),
    }
    assert_topics_equal_tables(pg_database, kafka_bootstrap, registry_url, topic_name, [DOCS])


def test_unchanged_large_value_without_full_identity_stops_the_connector(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    _setup(pg_database)
    source = _make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(pg_database, source.slot, running=running)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE docs SET title = 'renamed' WHERE id = 1")
    error = running.join()
    assert isinstance(error, SchemaError)
    assert "['body']" in str(error) and "REPLICA IDENTITY FULL" in str(error.fix)
    rows = topic_rows(kafka_bootstrap, registry_url, table_topic(topic_name, DOCS))
    assert sorted(r["title"] for r in rows.values()) == ["first", "second"]  # no placeholder
