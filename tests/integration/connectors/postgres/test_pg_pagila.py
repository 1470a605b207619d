"""The Pagila sample database (../shared/data/pagila, loaded at test time with psql) through
the connector: snapshot, then a streamed workload; every table, the partitioned ``payment``
included, is reproduced by its topic row by row."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from strangler.connectors.postgres.preflight import list_tables
from tests.fixtures import SHARED_DATA
from tests.integration.connectors.postgres.topic_state import (
    Running,
    assert_topics_equal_tables,
    make_source,
    registry_url,
    wait_caught_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.sample_data]
__all__ = ["registry_url"]

PAGILA = SHARED_DATA / "pagila"

WORKLOAD = [
    "INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) "
    "VALUES ('2022-07-30 10:00+00', 1, 1, 1)",
    "INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) "
    "SELECT 1, 1, max(rental_id), 3.99, '2022-07-30 10:05+00' FROM rental",
    # moves a payment to another partition: a delete and an insert under the root
    "UPDATE payment SET payment_date = payment_date + interval '1 month' WHERE payment_id = 16050",
    "UPDATE film SET rental_rate = rental_rate + 1, special_features = '{Trailers}' "
    "WHERE film_id <= 20",
    "DELETE FROM film_actor WHERE film_id = 1",
    "UPDATE customer SET email = NULL, active = 0 WHERE customer_id % 50 = 0",
    "INSERT INTO actor (first_name, last_name) VALUES ('ÆTHELRED', 'O''Brien-Łukasz')",
    "UPDATE staff SET picture = '\\xdeadbeef' WHERE staff_id = 1",
    "DELETE FROM payment WHERE payment_id IN (SELECT payment_id FROM payment "
    "WHERE customer_id = 2 LIMIT 3)",
]


def _load(dsn: str) -> None:
    psql = shutil.which("psql")
    assert psql is not None, "psql is needed to load Pagila (it ships with PostgreSQL)"
    for name in ("pagila-schema.sql", "pagila-data.sql"):
        subprocess.run(
            [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(PAGILA / name)],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def test_pagila_snapshots_and_streams_every_table(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    _load(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        tables = sorted(t for t in list_tables(conn) if t.schema == "public")
    assert len(tables) == 15 and any(t.name == "payment" for t in tables)
    source = make_source(pg_database, tmp_path, topic_name)
    running = Running(source, kafka_bootstrap, registry_url)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for statement in WORKLOAD:
            conn.execute(statement)
    wait_caught_up(pg_database, source.slot, running=running, timeout=120)
    running.finish()
    assert_topics_equal_tables(pg_database, kafka_bootstrap, registry_url, topic_name, tables)


def test_pagila_data_is_read_from_the_shared_folder() -> None:
    assert Path(PAGILA / "pagila-data.sql").is_file()
