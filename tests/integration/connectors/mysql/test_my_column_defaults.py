"""MariaDB/MySQL: NOT NULL columns added with a constant default while streaming are compatible
(the constant is the Avro default; older records read as it); a computed default is refused
with a fix line that says why."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from strangler.connectors.postgres.registrar import IncompatibleSchema
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute
from tests.integration.connectors.mysql.test_my_connector_support import (
    Running,
    make_source,
    wait_caught_up,
)
from tests.support.topics import latest_value_schema, topic_rows

pytestmark = pytest.mark.integration


def test_not_null_columns_with_constant_defaults_are_compatible(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(
        db,
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(10))",
        "INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob')",
    )
    source = make_source(db, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    execute(db, "INSERT INTO accounts VALUES (3, 'cy')")
    wait_caught_up(db, running)
    execute(
        db,
        "ALTER TABLE accounts ADD COLUMN tier VARCHAR(10) NOT NULL DEFAULT 'basic', "
        "ADD COLUMN credit BIGINT NOT NULL DEFAULT -5, "
        "ADD COLUMN opened DATE NOT NULL DEFAULT '2020-01-02', "
        "ADD COLUMN vip TINYINT(1) NOT NULL DEFAULT 1, "
        "ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'it''s new'",
        "UPDATE accounts SET tier = 'gold' WHERE id = 2",
    )
    wait_caught_up(db, running)
    running.finish()

    topic = table_topic(topic_name, TableId(db.name, "accounts"))
    fields = json.loads(latest_value_schema(registry_url, f"{topic}-value"))["fields"]
    defaults = {f["name"]: f.get("default") for f in fields}
    assert defaults["tier"] == "basic" and defaults["credit"] == -5
    assert defaults["vip"] is True
    assert defaults["opened"] is None  # zero dates publish as NULL: a DATE is always nullable
    rows = topic_rows(kafka_bootstrap, registry_url, topic)
    by_id = {json.loads(k)["id"]: v for k, v in rows.items()}
    assert by_id[2]["tier"] == "gold" and by_id[2]["opened"] == date(2020, 1, 2)
    for old in (1, 3):  # published before the change: read with the new schema's defaults
        assert by_id[old]["tier"] == "basic" and by_id[old]["note"] == "it's new"
        assert by_id[old]["credit"] == -5 and by_id[old]["vip"] is True


def test_a_computed_default_is_refused_with_its_own_fix(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    source = make_source(db, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    wait_caught_up(db, running)
    execute(
        db,
        "ALTER TABLE t ADD COLUMN made VARCHAR(40) NOT NULL DEFAULT (uuid())",
        "INSERT INTO t (id) VALUES (2)",
    )
    error = running.join()
    assert isinstance(error, IncompatibleSchema), error
    assert error.fix and "default of column made" in error.fix
    assert "is not a constant" in error.fix and "two steps" in error.fix
