"""``strangler verify`` against the real stack: a PostgreSQL source captured by ``strangler
connect``, two SQLite views kept by ``strangler materialize`` (one whole, one filtered, projected
and renamed). A clean view verifies (exit 0), also while the source is still changing; a row
changed, deleted and added directly in a view is reported exactly (exit 8, ``--json``); the
table's topic verifies against the source with ``--table``."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

from strangler.cli.devstack.smoke import mysql_settings
from tests.fixtures import MysqlDatabase

pytestmark = pytest.mark.e2e

STRANGLER = str(Path(sys.executable).with_name("strangler"))
ROWS = 300

TABLE = """
CREATE TABLE products (
    id int PRIMARY KEY,
    name text,
    price numeric(10, 2),
    active boolean NOT NULL,
    created timestamptz,
    weight double precision,
    tags text[],
    code uuid,
    blob bytea,
    sku char(6),
    addr inet,
    doc jsonb,
    span interval,
    opens time,
    ratio real,
    cost money,
    fine numeric(20, 8),
    loose numeric,
    since date
)
"""
FILL = """
INSERT INTO products
SELECT g, 'item ' || g || CASE WHEN g %% 7 = 0 THEN E'\\ttab\\\\slash' ELSE '' END,
       g * 1.25, g %% 3 <> 0, timestamptz '2024-05-01 12:00:00+00' + g * interval '1.5 second',
       g / 3.0, ARRAY['a', 'b' || g], md5(g::text)::uuid, decode(lpad(to_hex(g), 4, '0'), 'hex'),
       lpad(g::text, 4, '0'), ('10.0.' || (g %% 256) || '.1')::inet,
       jsonb_build_object('n', g, 'a', ARRAY[g, 1]), g * interval '1 minute 3.5 seconds',
       time '08:00' + g * interval '1.25 second', g / 7.0, g * 1.5, g / 9.0, g / 3.0,
       date '0900-01-01' + g * 400
FROM generate_series(1, %s) g
"""
LINES = """
CREATE TABLE "Order Lines" (order_no text, line int, qty int, PRIMARY KEY (order_no, line))
"""


ORDER_LINES = """INSERT INTO "Order Lines" VALUES ('A-1', 1, 5), ('a-1', 1, 6), ('B', 2, 7)"""


def _write(tmp: Path, bootstrap: str, registry: str, source: Any, views: list[Any]) -> Path:
    """A pipeline file with one source and these views (each applying in small batches)."""
    config = {
        "name": "verify-e2e",
        "kafka": {"bootstrap_servers": bootstrap, "replication_factor": 1},
        "registry": {"url": registry},
        "sources": [{**source, "state_dir": str(tmp / "state")}],
        "views": [{**view, "batch_timeout_ms": 20} for view in views],
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _pipeline(tmp: Path, dsn: str, bootstrap: str, registry: str, prefix: str) -> Path:
    topic = f"{prefix}.public.products"
    source = {
        "name": "shop",
        "dsn": dsn,
        "slot": f"e2e_verify_{uuid.uuid4().hex[:10]}",
        "publication": "e2e_verify",
        "topic_prefix": prefix,
        "tables": {"include": ["public.*"]},
        "status_interval_s": 0.1,
    }
    whole = {
        "name": "whole",
        "target": {"sqlite": {"path": str(tmp / "whole.db")}},
        "topics": [
            {"topic": topic},
            {"topic": f"{prefix}.public.Order_Lines", "table": "lines"},
            {"topic": f"{prefix}.public.notes"},  # empty at first: no view table made yet
        ],
    }
    cheap = {
        "name": "cheap",
        "target": {"sqlite": {"path": str(tmp / "cheap.db")}},
        "topics": [
            {
                "topic": topic,
                "table": "items",
                "columns": ["id", "name", "price"],
                "rename": {"name": "title"},
                "filter": {"all": [{"column": "active", "op": "eq", "value": True}]},
            }
        ],
    }
    return _write(tmp, bootstrap, registry, source, [whole, cheap])


def _verify(pipeline: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, "verify", str(pipeline), *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return -1


def _start(command: str, pipeline: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STRANGLER, command, str(pipeline)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _topics_exist(bootstrap: str, names: list[str]) -> bool:
    existing = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return all(name in existing for name in names)


def _wait(condition: Callable[[], bool], processes: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        for process in processes:
            assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def running(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> Iterator[Path]:
    """The pipeline file, with its connector and materializer running and caught up."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(TABLE)
        conn.execute(FILL, [ROWS])
        conn.execute(LINES)
        conn.execute(ORDER_LINES)
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
    pipeline = _pipeline(tmp_path, pg_database, kafka_bootstrap, registry_url, topic_name)
    processes = [_start("connect", pipeline)]
    try:
        topics = [f"{topic_name}.public.products", f"{topic_name}.public.Order_Lines"]
        _wait(lambda: _topics_exist(kafka_bootstrap, topics), processes)
        processes.append(_start("materialize", pipeline))
        _wait(lambda: _count(tmp_path / "whole.db", "products") == ROWS, processes)
        _wait(lambda: _count(tmp_path / "whole.db", "lines") == 3, processes)
        _wait(lambda: _count(tmp_path / "cheap.db", "items") == ROWS - ROWS // 3, processes)
        yield pipeline
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=60)


def _differences(result: subprocess.CompletedProcess[str], name: str) -> dict[str, Any]:
    report = json.loads(result.stdout)
    (found,) = [r for r in report["results"] if r["name"] == name]
    return {d["key"]["id"]: (d["kind"], d.get("columns")) for d in found["differences"]}


def test_clean_views_verify_and_injected_divergences_are_reported(
    running: Path, pg_database: str, tmp_path: Path
) -> None:
    clean = _verify(running, "--settle", "5")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "whole/products" in clean.stdout and "cheap/items" in clean.stdout
    assert "whole/lines" in clean.stdout
    assert "whole/notes" in clean.stdout  # empty on both sides
    assert "DIVERGED" not in clean.stdout

    # the source moves on while verify runs: the views follow, nothing is reported
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE products SET name = 'renamed', price = 1 WHERE id <= 20")
        conn.execute("DELETE FROM products WHERE id BETWEEN 21 AND 25")
        conn.execute("INSERT INTO products (id, active) VALUES (5000, true)")  # NULLs elsewhere
        conn.execute("INSERT INTO notes VALUES (1, 'first')")  # the view makes its table now
        conn.execute("UPDATE products SET created = 'infinity' WHERE id = 26")
        conn.execute("UPDATE products SET created = '-infinity', since = 'infinity' WHERE id = 27")
        conn.execute(FILL.replace("generate_series(1,", "generate_series(1001,"), [1010])
    moving = _verify(running, "--settle", "30", "--json")
    assert moving.returncode == 0, moving.stdout + moving.stderr
    assert all(r["status"] == "equal" for r in json.loads(moving.stdout)["results"])

    with sqlite3.connect(tmp_path / "whole.db") as conn:
        conn.execute("UPDATE products SET name = 'tampered' WHERE id = 30")
        conn.execute("DELETE FROM products WHERE id = 31")
        conn.execute("INSERT INTO products (id, __strangler_position) VALUES (99999, x'00')")
    with sqlite3.connect(tmp_path / "cheap.db") as conn:
        conn.execute("UPDATE items SET price = '0.01' WHERE id = 40")  # active: 40 % 3 <> 0
        conn.execute("DELETE FROM items WHERE id = 41")
        conn.execute("INSERT INTO items (id, title, __strangler_position) VALUES (42, 'x', x'00')")

    diverged = _verify(running, "--settle", "1", "--json")
    assert diverged.returncode == 8, diverged.stderr
    assert "differ from the source" in diverged.stderr
    assert _differences(diverged, "whole/products") == {
        "30": ("different", ["name"]),
        "31": ("missing", None),
        "99999": ("extra", None),
    }
    # 42 is inactive (42 % 3 == 0): the filter keeps it out of the view, so it is extra
    assert _differences(diverged, "cheap/items") == {
        "40": ("different", ["price"]),
        "41": ("missing", None),
        "42": ("extra", None),
    }
    report = json.loads(diverged.stdout)
    lines = [r for r in report["results"] if r["name"] == "whole/lines"]
    assert lines[0]["status"] == "equal"

    readable = _verify(running, "--view", "cheap", "--settle", "0")
    assert readable.returncode == 8
    assert "different  id=40: price: '50.00' (source) vs '0.01' (view)" in readable.stdout
    assert "missing    id=41 (not in the view)" in readable.stdout


def test_view_and_table_options_pick_what_is_verified(running: Path) -> None:
    only = _verify(running, "--view", "whole", "--table", "public.Order Lines", "--json")
    assert only.returncode == 0, only.stdout + only.stderr
    assert [r["name"] for r in json.loads(only.stdout)["results"]] == ["whole/lines"]
    by_view_table = _verify(running, "--view", "cheap", "--table", "items", "--json")
    assert [r["name"] for r in json.loads(by_view_table.stdout)["results"]] == ["cheap/items"]
    quiet = subprocess.run(
        [STRANGLER, "-q", "verify", str(running), "--view", "cheap"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "cheap/items" in quiet.stdout and "equal" in quiet.stdout


def test_config_problems_exit_2(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: x\nkafka: {bootstrap_servers: 127.0.0.1:1}\n")
    result = _verify(bare)
    assert result.returncode == 2
    assert "the pipeline has no `sources:` section" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_source_exits_3(tmp_path: Path) -> None:
    source = {
        "name": "gone",
        "dsn": "postgresql://postgres@127.0.0.1:1/nothing",
        "slot": "gone",
        "publication": "gone",
        "topic_prefix": "gone",
        "tables": {"include": ["public.*"]},
    }
    view = {"name": "v", "target": {"sqlite": {"path": str(tmp_path / "v.db")}},
            "topics": [{"topic": "gone.public.t"}]}  # fmt: skip
    pipeline = _write(tmp_path, "127.0.0.1:1", "http://127.0.0.1:1", source, [view])
    result = _verify(pipeline)
    assert result.returncode == 3, result.stderr
    assert "source gone: cannot list its tables" in result.stderr
    assert "Traceback" not in result.stderr


def test_table_topic_verifies_against_the_source(running: Path) -> None:
    result = _verify(running, "--table", "public.products", "--json", "--settle", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = json.loads(result.stdout)["results"]
    assert found["status"] == "equal" and found["source_rows"] == ROWS


def test_unknown_view_is_a_config_error(running: Path) -> None:
    result = _verify(running, "--view", "nope")
    assert result.returncode == 1
    assert "no view named ['nope']" in result.stderr


MYSQL_TABLE = """
CREATE TABLE items (
    id int PRIMARY KEY, sku varchar(20) NOT NULL, price decimal(10, 2), active tinyint(1),
    made datetime(6), seen timestamp(3) NULL, opens time, data varbinary(8), doc json,
    ratio double, weight float, flags bit(3), size enum('s', 'm', 'l')
)
"""
MYSQL_ROWS = [
    (i, f"SKU-{i}", f"{i}.25", i % 2, f"2024-02-0{i % 9 + 1} 10:00:00.{i:06d}",
     f"2024-03-01 00:00:0{i % 10}.5", f"0{i % 10}:30:00", bytes([i, 0]), f'{{"n": {i}}}',
     i / 7, i / 3, i % 8, "sml"[i % 3])
    for i in range(1, 41)
]  # fmt: skip


def _mysql_pipeline(
    tmp: Path, db: MysqlDatabase, view_dsn: str, bootstrap: str, registry: str, prefix: str
) -> Path:
    source = {
        "type": "mysql",
        "name": "inventory",
        "url": db.url,
        "server_id": 7400 + uuid.uuid4().int % 1000,
        "topic_prefix": prefix,
        "tables": {"include": [f"{db.name}.items"]},
    }
    stock = {
        "name": "stock",
        "target": {"postgres": {"dsn": view_dsn, "schema": "stock"}},
        "topics": [
            {
                "topic": f"{prefix}.{db.name}.items",
                "rename": {"sku": "code"},
                "filter": {"any": [{"column": "active", "op": "eq", "value": True}]},
            }
        ],
    }
    return _write(tmp, bootstrap, registry, source, [stock])


def _pg_count(dsn: str, table: str) -> int:
    try:
        with psycopg.connect(dsn) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()[0])  # type: ignore[index]
    except psycopg.errors.UndefinedTable:
        return -1


def test_a_mysql_source_and_a_postgres_view(
    mysql_database: MysqlDatabase,
    pg_database: str,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    conn = pymysql.connect(**mysql_settings(mysql_database.url), autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"USE `{mysql_database.name}`")
        cur.execute(MYSQL_TABLE)
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            MYSQL_ROWS,
        )
    conn.close()
    pipeline = _mysql_pipeline(
        tmp_path, mysql_database, pg_database, kafka_bootstrap, registry_url, topic_name
    )
    processes = [_start("connect", pipeline)]
    try:
        topic = f"{topic_name}.{mysql_database.name}.items"
        _wait(lambda: _topics_exist(kafka_bootstrap, [topic]), processes)
        processes.append(_start("materialize", pipeline))
        _wait(lambda: _pg_count(pg_database, "stock.items") == 20, processes)

        clean = _verify(pipeline, "--settle", "5")
        assert clean.returncode == 0, clean.stdout + clean.stderr
        topic_check = _verify(pipeline, "--table", f"{mysql_database.name}.items", "--settle", "5")
        assert topic_check.returncode == 0, topic_check.stdout + topic_check.stderr

        with psycopg.connect(pg_database, autocommit=True) as view:
            view.execute("UPDATE stock.items SET ratio = 0.5, opens = '23:59' WHERE id = 3")
            view.execute("DELETE FROM stock.items WHERE id = 5")
            view.execute(
                "INSERT INTO stock.items (id, code, __strangler_position) VALUES (2, 'x', '\\x00')"
            )
        diverged = _verify(pipeline, "--settle", "1", "--json")
        assert diverged.returncode == 8, diverged.stderr
        assert _differences(diverged, "stock/items") == {
            "3": ("different", ["opens", "ratio"]),
            "5": ("missing", None),
            "2": ("extra", None),
        }
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=60)


def test_the_topic_of_an_exactly_once_source(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    """Transactional topics end in commit markers that are never delivered: the topic is
    still read to its end."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(TABLE)
        conn.execute(FILL, [ROWS])
    source = {
        "name": "shop",
        "dsn": pg_database,
        "slot": f"e2e_verify_{uuid.uuid4().hex[:10]}",
        "publication": "e2e_verify_eo",
        "topic_prefix": topic_name,
        "tables": {"include": ["public.products"]},
        "exactly_once": True,
    }
    pipeline = _write(tmp_path, kafka_bootstrap, registry_url, source, [])
    connect = _start("connect", pipeline)
    try:
        subject = f"{topic_name}.public.products-value"
        client = SchemaRegistryClient({"url": registry_url})
        _wait(lambda: subject in client.get_subjects(), [connect])
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("UPDATE products SET name = 'moved' WHERE id <= 10")
        result = _verify(pipeline, "--table", "public.products", "--json", "--settle", "30")
        assert result.returncode == 0, result.stdout + result.stderr
        (found,) = json.loads(result.stdout)["results"]
        assert found["source_rows"] == ROWS and found["view_rows"] == ROWS
    finally:
        connect.send_signal(signal.SIGTERM)
        connect.communicate(timeout=60)
