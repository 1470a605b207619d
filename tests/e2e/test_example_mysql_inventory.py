"""examples/mysql-inventory-to-reporting run start to finish on the real stack: the driver
exits 0, and the PostgreSQL reporting tables equal the projection of the MariaDB tables
(computed here in SQL, independently of the example's own check) after the day of changes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from strangler.cli.devstack.smoke import mysql_settings
from tests.fixtures import MysqlDatabase
from tests.support.examples import run_example

pytestmark = pytest.mark.e2e

# reporting table → (its columns, the same rows computed from MariaDB in SQL)
REPORTING = {
    "warehouses": (
        ["id", "warehouse_code", "city"],
        "SELECT id, code, city FROM warehouses WHERE active",
    ),
    "items": (
        ["id", "sku", "item_name", "category", "price"],
        "SELECT id, sku, name, category, unit_price FROM items WHERE NOT discontinued",
    ),
    "stock": (
        ["warehouse_id", "item_id", "on_hand", "reorder_level"],
        "SELECT warehouse_id, item_id, quantity, reorder_level FROM stock_levels "
        "WHERE quantity > 0",
    ),
}


def mariadb_rows(db: MysqlDatabase) -> dict[str, set[tuple[Any, ...]]]:
    conn = pymysql.connect(**mysql_settings(db.url), database=db.name)
    try:
        with conn.cursor() as cur:
            out = {}
            for table, (_, query) in REPORTING.items():
                cur.execute(query)
                out[table] = {tuple(row) for row in cur.fetchall()}
            return out
    finally:
        conn.close()


def reporting_rows(dsn: str) -> dict[str, set[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            table: {tuple(r) for r in conn.execute(f"SELECT {', '.join(cols)} FROM rep.{table}")}
            for table, (cols, _) in REPORTING.items()
        }


def reporting_columns(dsn: str) -> dict[str, list[str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'rep' AND column_name NOT LIKE '\\_\\_strangler%' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def test_inventory_playbook_mirrors_the_projection_into_postgres(
    mysql_database: MysqlDatabase,
    pg_database: str,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    result = run_example(
        "mysql-inventory-to-reporting/run.py", "--logs", str(tmp_path), "--timeout", "40",
        endpoints={"mysql_url": mysql_database.url, "pg_dsn": pg_database,
                   "kafka_bootstrap": kafka_bootstrap, "registry_url": registry_url},
        names={"INVENTORY_DB": mysql_database.name, "INVENTORY_TOPIC_PREFIX": topic_name,
               "INVENTORY_SERVER_ID": str(random.randint(100_000, 2**31)),
               "INVENTORY_STATE_DIR": str(tmp_path / "state"),
               "REPORTING_VIEW": topic_name, "REPORTING_SCHEMA": "rep"},
        work=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "playbook: done" in result.stdout
    verified = [line for line in result.stdout.splitlines() if line.startswith(topic_name + "/")]
    assert len(verified) == 3 and all(" equal " in line for line in verified), result.stdout

    columns = reporting_columns(pg_database)
    assert {t: columns[t] for t in REPORTING} == {t: cols for t, (cols, _) in REPORTING.items()}
    with psycopg.connect(pg_database) as conn:
        dead = conn.execute("SELECT count(*) FROM rep._strangler_dead_letters").fetchone()
    assert dead == (0,)
    have, want = reporting_rows(pg_database), mariadb_rows(mysql_database)
    assert have == want
    items = {row[0]: row for row in have["items"]}
    assert 5 not in items and 8 not in items  # discontinued; deleted
    assert 11 in items and 151 in items  # brought back; new
    assert items[3][2] == "bolt 12mm (zinc)"
    assert {row[0] for row in have["warehouses"]} == {1, 3, 4, 5, 6, 7}  # 2 closed, 6 reopened
    assert not {(1, i) for i in range(1, 21)} & {row[:2] for row in have["stock"]}  # ran empty
