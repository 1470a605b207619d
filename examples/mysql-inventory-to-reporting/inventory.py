"""The legacy inventory in MariaDB (warehouses, items, stock levels): its tables, a deterministic
data generator, the day of changes the playbook applies, and the reporting projection the
PostgreSQL view must equal.

    python inventory.py setup      # create the tables and fill them (seeded, nothing downloaded)
    python inventory.py changes    # a day of inserts, updates and deletes
    python inventory.py check      # does the reporting view equal the projection? (exit 0/1)

Endpoints and names come from the environment, as in pipeline.yaml: STRANGLER_MYSQL_URL,
INVENTORY_DB, STRANGLER_PG_DSN, REPORTING_SCHEMA.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from strangler.cli.devstack.smoke import mysql_settings

MYSQL_URL = os.environ.get("STRANGLER_MYSQL_URL", "mysql://strangler:strangler@127.0.0.1:23306/")
PG_DSN = os.environ.get("STRANGLER_PG_DSN", "postgresql://postgres@127.0.0.1:25432/postgres")
DATABASE = os.environ.get("INVENTORY_DB", "inventory")
SCHEMA = os.environ.get("REPORTING_SCHEMA", "reporting")

TABLES = (
    """CREATE TABLE warehouses (
        id INT PRIMARY KEY,
        code VARCHAR(8) NOT NULL,
        name VARCHAR(80) NOT NULL,
        city VARCHAR(60) NOT NULL,
        manager_phone VARCHAR(30),
        active BOOLEAN NOT NULL DEFAULT TRUE)""",
    """CREATE TABLE items (
        id INT PRIMARY KEY,
        sku VARCHAR(16) NOT NULL,
        name VARCHAR(120) NOT NULL,
        category VARCHAR(40) NOT NULL,
        unit_price DECIMAL(10, 2) NOT NULL,
        supplier_note TEXT,
        discontinued BOOLEAN NOT NULL DEFAULT FALSE)""",
    """CREATE TABLE stock_levels (
        warehouse_id INT NOT NULL,
        item_id INT NOT NULL,
        quantity INT NOT NULL,
        reorder_level INT NOT NULL,
        bin_location VARCHAR(12),
        PRIMARY KEY (warehouse_id, item_id))""",
)

CITIES = ("Leeds", "Lyon", "Porto", "Gdansk", "Ghent", "Turin", "Aarhus", "Brno")
CATEGORIES = ("fasteners", "hinges", "paint", "timber", "tools", "adhesives")
NOUNS = ("bolt", "screw", "hinge", "bracket", "primer", "plank", "chisel", "glue", "washer")
WAREHOUSES, ITEMS = 6, 150


@dataclass(frozen=True)
class Projection:
    """How one legacy table appears in the reporting view: which columns (renamed), which rows."""

    source: str
    view_table: str
    key: tuple[str, ...]
    columns: dict[str, str]
    """Source column → reporting column, key columns first."""
    keeps: Callable[[dict[str, Any]], bool]


# The same projection pipeline.yaml declares (columns, rename, filter), written as Python.
REPORTING = (
    Projection(
        "warehouses",
        "warehouses",
        ("id",),
        {"id": "id", "code": "warehouse_code", "city": "city"},
        lambda row: bool(row["active"]),
    ),
    Projection(
        "items",
        "items",
        ("id",),
        {
            "id": "id",
            "sku": "sku",
            "name": "item_name",
            "category": "category",
            "unit_price": "price",
        },
        lambda row: not row["discontinued"],
    ),
    Projection(
        "stock_levels",
        "stock",
        ("warehouse_id", "item_id"),
        {
            "warehouse_id": "warehouse_id",
            "item_id": "item_id",
            "quantity": "on_hand",
            "reorder_level": "reorder_level",
        },
        lambda row: row["quantity"] > 0,
    ),
)


def mysql() -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        **mysql_settings(MYSQL_URL),
        autocommit=True,
        cursorclass=pymysql.cursors.DictCursor,
    )


def setup(seed: int) -> None:
    """Create the inventory database and tables and fill them from ``seed``."""
    rng = random.Random(seed)
    conn = mysql()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        cur.execute(f"USE `{DATABASE}`")
        cur.execute("SHOW TABLES")
        if cur.fetchall():
            sys.exit(f"database {DATABASE} already has tables; set INVENTORY_DB to a new name")
        for ddl in TABLES:
            cur.execute(ddl)
        cur.executemany(
            "INSERT INTO warehouses VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (w, f"WH{w:02d}", f"{CITIES[w % len(CITIES)]} depot", CITIES[w % len(CITIES)],
                 f"+44 113 {rng.randint(100000, 999999)}", w != WAREHOUSES)
                for w in range(1, WAREHOUSES + 1)
            ],
        )  # fmt: skip
        cur.executemany("INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s, %s)", _items(rng))
        cur.executemany(
            "INSERT INTO stock_levels VALUES (%s, %s, %s, %s, %s)",
            [
                (w, i, rng.choice((0, rng.randint(1, 500))), rng.randint(5, 50),
                 f"{chr(64 + w)}-{i:03d}")
                for w in range(1, WAREHOUSES + 1)
                for i in range(1, ITEMS + 1)
                if rng.random() < 0.7
            ],
        )  # fmt: skip
    conn.close()
    print(f"setup: {DATABASE}: {WAREHOUSES} warehouses, {ITEMS} items, stock levels (seed {seed})")


def _items(rng: random.Random, first: int = 1, count: int = ITEMS) -> list[tuple[Any, ...]]:
    return [
        (i, f"SKU-{i:05d}", f"{rng.choice(NOUNS)} {rng.randint(2, 80)}mm", rng.choice(CATEGORIES),
         Decimal(rng.randint(5, 99999)) / 100, "call before ordering" if i % 7 == 0 else None,
         i % 11 == 0)
        for i in range(first, first + count)
    ]  # fmt: skip


CHANGES = (
    # a new warehouse opens with ten items in stock
    "INSERT INTO warehouses VALUES (7, 'WH07', 'Brno depot', 'Brno', NULL, TRUE)",
    "INSERT INTO stock_levels SELECT 7, id, 40, 10, NULL FROM items WHERE id <= 10",
    # prices change; an item is renamed
    "UPDATE items SET unit_price = unit_price * 1.10 WHERE category = 'paint'",
    "UPDATE items SET name = 'bolt 12mm (zinc)' WHERE id = 3",
    # rows leave the filters: an item is discontinued, a warehouse closes, a bin runs empty
    "UPDATE items SET discontinued = TRUE WHERE id = 5",
    "UPDATE warehouses SET active = FALSE WHERE id = 2",
    "UPDATE stock_levels SET quantity = 0 WHERE warehouse_id = 1 AND item_id <= 20",
    # rows enter the filters: an item is brought back, a closed warehouse reopens
    "UPDATE items SET discontinued = FALSE WHERE id = 11",
    f"UPDATE warehouses SET active = TRUE WHERE id = {WAREHOUSES}",
    # deletes: an item and its stock go away for good
    "DELETE FROM stock_levels WHERE item_id = 8",
    "DELETE FROM items WHERE id = 8",
    # columns the report does not carry change too (no visible effect there)
    "UPDATE warehouses SET manager_phone = '+44 113 000000' WHERE id = 1",
)


def changes(seed: int) -> None:
    """The day of changes: new rows, updates, rows leaving and entering filters, deletes."""
    rng = random.Random(seed + 1)
    conn = mysql()
    with conn.cursor() as cur:
        cur.execute(f"USE `{DATABASE}`")
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s, %s)", _items(rng, ITEMS + 1, 5)
        )
        conn.begin()  # one transaction: the view shows all of it or none of it
        for statement in CHANGES:
            cur.execute(statement)
        conn.commit()
        for _ in range(50):  # the shop floor keeps moving stock
            cur.execute(
                "UPDATE stock_levels SET quantity = %s WHERE warehouse_id = %s AND item_id = %s",
                (rng.randint(0, 300), rng.randint(3, WAREHOUSES), rng.randint(1, ITEMS)),
            )
    conn.close()
    print(f"changes: {len(CHANGES)} statements in one transaction, 5 new items, 50 stock moves")


def expected() -> dict[str, set[tuple[Any, ...]]]:
    """The reporting tables as they must be: the projection of the MariaDB tables now."""
    conn = mysql()
    out: dict[str, set[tuple[Any, ...]]] = {}
    with conn.cursor() as cur:
        for p in REPORTING:
            cur.execute(f"SELECT * FROM `{DATABASE}`.`{p.source}`")
            rows = [r for r in cur.fetchall() if p.keeps(r)]
            out[p.view_table] = {tuple(r[c] for c in p.columns) for r in rows}
    conn.close()
    return out


def reporting() -> dict[str, set[tuple[Any, ...]]]:
    """The reporting tables as they are in PostgreSQL (empty where not created yet)."""
    out: dict[str, set[tuple[Any, ...]]] = {}
    with psycopg.connect(PG_DSN) as conn:
        for p in REPORTING:
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, p.columns.values())),
                sql.Identifier(SCHEMA, p.view_table),
            )
            try:
                out[p.view_table] = {tuple(r) for r in conn.execute(query)}
            except psycopg.errors.UndefinedTable:
                conn.rollback()
                out[p.view_table] = set()
    return out


def differences() -> list[str]:
    """One line per reporting table that differs from the projection; empty when equal."""
    want, have = expected(), reporting()
    return [
        f"{table}: {len(want[table] - have[table])} missing, "
        f"{len(have[table] - want[table])} unexpected of {len(want[table])} rows"
        for table in want
        if want[table] != have[table]
    ]


def check(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the view to equal the projection; report either way."""
    deadline = time.monotonic() + timeout
    while (problems := differences()) and time.monotonic() < deadline:
        time.sleep(0.5)
    counts = {t: len(rows) for t, rows in expected().items()}
    if problems:
        print("check: the reporting view differs:\n  " + "\n  ".join(problems))
        return False
    print(f"check: the reporting view equals the projection of MariaDB {counts}")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("setup", "changes", "check"))
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=0, help="check: wait this long")
    args = parser.parse_args(argv)
    if args.step == "setup":
        setup(args.seed)
    elif args.step == "changes":
        changes(args.seed)
    else:
        return 0 if check(args.timeout) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
