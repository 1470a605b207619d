"""Benchmark of ``strangler verify``: a PostgreSQL source table against a SQLite view of it.

    eval "$(strangler dev env)"
    .venv/bin/python benchmarks/verify_bench.py [--rows N] [--differences N] [--pg-dsn DSN]

1. load: ``--rows`` rows (default 1,000,000; bigint key, text, numeric(10,2), boolean,
   timestamptz, int) into a fresh PostgreSQL database, and the same rows into a SQLite file
   with the layout the materializer creates (its own DDL, bookkeeping and value converters).
   No Kafka: this measures the comparison, not the pipeline.
2. verify: ``strangler verify FILE --json`` as a subprocess (what a user runs), once on the
   equal tables and once after ``--differences`` rows of the view were changed, deleted or
   added (``--settle 0``); with ``--filtered`` also a view of the active rows only (its filter
   is applied to every source row in Python: the slower path). Printed per run: wall
   seconds, rows/s (source rows / wall seconds), the engine's own seconds, the CPU seconds of
   the verify process (steadier than wall time on a shared machine), and its peak RSS.

The issue asks for at least 1,000,000 rows compared per 10 s on this machine (2 cores).
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg.conninfo import make_conninfo

from strangler.core.avro import TIMESTAMP_MICROS
from strangler.core.avro import decimal as avro_decimal
from strangler.materializers.columns import Dialect, sql_type
from strangler.materializers.statements import Sql
from strangler.materializers.tables import POSITION_COLUMN, TableSpec, ViewColumn

TOPIC = "bench.public.products"
VIEW = "bench"
SPEC = TableSpec(
    "products",
    (ViewColumn("id", "id", "long"),),
    (
        ViewColumn("name", "name", "string"),
        ViewColumn("price", "price", avro_decimal(10, 2)),
        ViewColumn("active", "active", "boolean"),
        ViewColumn("updated", "updated", TIMESTAMP_MICROS),
        ViewColumn("qty", "qty", "int"),
    ),
)
SOURCE_DDL = """
CREATE TABLE products (id bigint PRIMARY KEY, name text, price numeric(10, 2),
                       active boolean, updated timestamptz, qty int)
"""
SOURCE_FILL = """
INSERT INTO products
SELECT g, 'product ' || g, (g %% 100000) / 100.0, g %% 3 <> 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1.25 second', g %% 1000
FROM generate_series(1, %s) g
"""
EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def decimal_text(value: decimal.Decimal) -> decimal.Decimal:
    """As numeric(10, 2) holds it: two decimals, always."""
    return value.quantize(decimal.Decimal("0.01"))


def view_rows(count: int, active_only: bool) -> Iterator[tuple[Any, ...]]:
    """The rows SOURCE_FILL makes, converted as the materializer converts them for SQLite."""
    convert = [sql_type(c.avro_type).to_sqlite for c in SPEC.columns]
    for g in range(1, count + 1):
        if active_only and g % 3 == 0:
            continue
        values = (
            g,
            f"product {g}",
            decimal_text(decimal.Decimal(g % 100000) / 100),
            g % 3 != 0,
            EPOCH + datetime.timedelta(seconds=g * 1.25),
            g % 1000,
        )
        row = [v if c is None else c(v) for v, c in zip(values, convert, strict=True)]
        yield (*row, b"\x00" * 8)


def load_view(path: Path, count: int, view: str = VIEW, active_only: bool = False) -> None:
    sql = Sql(Dialect.SQLITE)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for statement in [*sql.bookkeeping(), *sql.create_table(SPEC)]:
        conn.execute(statement)
    conn.execute(sql.upsert_table(), [view, TOPIC, json.dumps(SPEC.to_json()), None])
    names = [c.name for c in SPEC.columns] + [POSITION_COLUMN]
    marks = ", ".join("?" * len(names))
    columns = ", ".join(f'"{n}"' for n in names)
    conn.execute("BEGIN")
    rows = view_rows(count, active_only)
    conn.executemany(f"INSERT INTO products ({columns}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    conn.close()


FILTERED = "active"
"""A second view: only active rows (Python reads the source's filter column and applies the
view's filter to every row, so this is the slower path)."""


def pipeline(tmp: Path, dsn: str, view_db: Path, filtered_db: Path | None) -> Path:
    config: dict[str, Any] = {
        "name": "verify-bench",
        "kafka": {"bootstrap_servers": "127.0.0.1:1"},  # not contacted by verify
        "registry": {"url": "http://127.0.0.1:1"},
        "sources": [
            {
                "name": "bench",
                "dsn": dsn,
                "slot": "verify_bench",
                "publication": "verify_bench",
                "topic_prefix": "bench",
                "tables": {"include": ["public.products"]},
            }
        ],
        "views": [
            {
                "name": VIEW,
                "target": {"sqlite": {"path": str(view_db)}},
                "topics": [{"topic": TOPIC}],
            }
        ],
    }
    if filtered_db is not None:
        active = {"all": [{"column": "active", "op": "eq", "value": True}]}
        config["views"].append(
            {
                "name": FILTERED,
                "target": {"sqlite": {"path": str(filtered_db)}},
                "topics": [{"topic": TOPIC, "filter": active}],
            }
        )
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def diverge(view_db: Path, count: int, differences: int) -> None:
    """Change, delete and add ``differences`` rows of the view (a third each)."""
    step = max(1, count // max(1, differences))
    keys = list(range(1, count + 1, step))[:differences]
    with sqlite3.connect(view_db) as conn:
        for i, key in enumerate(keys):
            if i % 3 == 0:
                conn.execute("UPDATE products SET qty = -1 WHERE id = ?", [key])
            elif i % 3 == 1:
                conn.execute("DELETE FROM products WHERE id = ?", [key])
            else:
                conn.execute(
                    f"INSERT INTO products (id, \"{POSITION_COLUMN}\") VALUES (?, x'00')",
                    [count + key],
                )


def run_verify(path: Path, rows: int, label: str, view: str = VIEW) -> None:
    exe = Path(sys.executable).with_name("strangler")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = children.ru_utime + children.ru_stime
    started = time.perf_counter()
    result = subprocess.run(
        [str(exe), "verify", str(path), "--view", view, "--json", "--settle", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime - cpu_before
    if result.returncode not in (0, 8):
        raise SystemExit(f"verify failed ({result.returncode}): {result.stderr}")
    (found,) = json.loads(result.stdout)["results"]
    counts = {k: found[k] for k in ("missing", "extra", "different")}
    print(
        f"verify {label:<12} exit {result.returncode}  {rows:,} rows in {wall:.2f} s wall "
        f"({rows / wall:,.0f} rows/s; engine {found['seconds']:.2f} s, "
        f"{rows / found['seconds']:,.0f} rows/s)  {counts}"
    )
    print(
        f"verify {label:<12} CPU {cpu:.2f} s in the verify process "
        f"({rows / cpu:,.0f} rows per CPU second; PostgreSQL's own work not counted)"
    )
    # ru_maxrss of children is the largest child so far: every child here is a verify run
    print(f"verify {label:<12} peak RSS {children.ru_maxrss / 1024:.0f} MB (verify process)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--differences", type=int, default=300)
    parser.add_argument(
        "--filtered", action="store_true", help="Also verify a filtered view (the slow path)."
    )
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("STRANGLER_PG_DSN", "host=127.0.0.1 port=25432 user=postgres"),
    )
    args = parser.parse_args()
    name = f"verify_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    dsn = make_conninfo(args.pg_dsn, dbname=name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(SOURCE_DDL.encode())
                conn.execute(SOURCE_FILL.encode(), [args.rows])
                conn.execute(b"VACUUM ANALYZE products")
            view_db = Path(tmp) / "view.db"
            load_view(view_db, args.rows)
            filtered_db = Path(tmp) / "active.db" if args.filtered else None
            if filtered_db is not None:
                load_view(filtered_db, args.rows, FILTERED, active_only=True)
            print(f"load         {args.rows:,} rows into PostgreSQL and SQLite in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            path = pipeline(Path(tmp), dsn, view_db, filtered_db)
            run_verify(path, args.rows, "equal")
            diverge(view_db, args.rows, args.differences)
            run_verify(path, args.rows, "diverged")
            if filtered_db is not None:
                run_verify(path, args.rows, "filtered", FILTERED)
    finally:
        with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (bench)")


if __name__ == "__main__":
    main()
