"""NOT NULL columns added with a constant default while streaming: the registry accepts the new
value schema (the constant is the field's Avro default), changed rows carry their value, and
records written before the change read as the default."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from strangler.connectors.postgres.catalog import column_defaults, describe_table, wait_for_columns
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.integration.connectors.postgres.topic_state import (
    Running,
    make_source,
    registry_url,
    wait_caught_up,
)
from tests.support.topics import latest_value_schema, topic_rows

pytestmark = pytest.mark.integration
__all__ = ["registry_url"]  # the fixture: our registry, in process


def test_not_null_columns_with_constant_defaults_are_compatible(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text)")
        conn.execute("INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob')")
    source = make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO accounts VALUES (3, 'cy')")
        wait_caught_up(pg_database, source.slot, running=running)
        conn.execute(
            "ALTER TABLE accounts ADD COLUMN tier text NOT NULL DEFAULT 'basic', "
            "ADD COLUMN credit bigint NOT NULL DEFAULT -5, "
            "ADD COLUMN opened date NOT NULL DEFAULT '2020-01-02', "
            "ADD COLUMN rate numeric(6,2) NOT NULL DEFAULT 1.25, "
            "ADD COLUMN vip boolean NOT NULL DEFAULT false, "
            "ADD COLUMN note varchar(20) NOT NULL DEFAULT 'it''s new'"
        )
        conn.execute("UPDATE accounts SET tier = 'gold', vip = true WHERE id = 2")
        wait_caught_up(pg_database, source.slot, running=running)
    running.finish()

    topic = table_topic(topic_name, TableId("public", "accounts"))
    fields = json.loads(latest_value_schema(registry_url, f"{topic}-value"))["fields"]
    defaults = {f["name"]: f.get("default") for f in fields}
    assert defaults["tier"] == "basic" and defaults["credit"] == -5 and defaults["vip"] is False
    assert defaults["opened"] == (date(2020, 1, 2) - date(1970, 1, 1)).days
    rows = {
        json.loads(k)["id"]: v for k, v in topic_rows(kafka_bootstrap, registry_url, topic).items()
    }
    assert rows[2]["tier"] == "gold" and rows[2]["vip"] is True and rows[2]["credit"] == -5
    for old in (1, 3):  # published before the change: read with the new schema's defaults
        assert rows[old]["tier"] == "basic" and rows[old]["note"] == "it's new"
        assert rows[old]["credit"] == -5 and rows[old]["vip"] is False
    assert rows[2]["opened"] == date(2020, 1, 2) and rows[2]["rate"] == Decimal("1.25")


def test_catalog_facts_wait_until_the_relation_s_columns_are_visible(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id int PRIMARY KEY)")
        relation = describe_table(conn, TableId("public", "later"))
        assert wait_for_columns(conn, relation, timeout_s=0)
        # what the stream may announce before the catalog shows it (the commit not yet visible)
        ahead = replace(
            relation, columns=(*relation.columns, replace(relation.columns[0], name="c"))
        )
        started = time.monotonic()
        assert not wait_for_columns(conn, ahead, timeout_s=0.3)
        assert time.monotonic() - started >= 0.3
        conn.execute("ALTER TABLE later ADD COLUMN c int NOT NULL DEFAULT 7")
        assert wait_for_columns(conn, ahead, timeout_s=0)
        assert column_defaults(conn, relation.oid) == {"c": "7"}
