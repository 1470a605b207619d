"""The native streaming path over a real server's pgoutput: the same records and headers as the
Python path for every captured change (types of every native codec, NULLs, key changes,
deletes, unchanged TOAST filled from a full image, truncates, a schema change inside a
transaction), and most inserts and updates taken natively."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import PgOutputMessage
from strangler.connectors.postgres.pgoutput_encoder import encode_message
from tests.unit.connectors.postgres.test_pg_native_stream import run

pytestmark = pytest.mark.integration

ReadSlot = Callable[..., list[PgOutputMessage]]
MakeSlot = Callable[[str], Lsn]

ROWS = (
    "SELECT g, 'item ' || g, g / 100.0, '2024-01-01'::timestamptz + g * interval '1 second', "
    "g % 2 = 0, g % 1000, date '2024-02-29' + g, time '12:34:56.789' + g * interval '1 ms', "
    "md5(g::text)::uuid, decode(md5(g::text), 'hex'), g / 7.0, (g / 3.0)::real, "
    "jsonb_build_object('g', g), 'v' || g, timestamp '1999-12-31 23:59:59' + g * interval '1 s' "
    "FROM generate_series({}, {}) g"
)
WORKLOAD = [
    "INSERT INTO items " + ROWS.format(1, 200),
    "INSERT INTO docs VALUES (1, repeat('x', 100000), 'a'), (2, 'small', NULL)",
    "UPDATE items SET qty = qty + 1 WHERE id <= 120",
    "UPDATE items SET name = 'n' || id, amount = NULL, f = 'NaN', r = '-Infinity' WHERE id <= 20",
    "UPDATE items SET created = 'infinity', d = '-infinity' WHERE id = 21",
    "UPDATE items SET id = id + 1000 WHERE id IN (3, 4)",
    "DELETE FROM items WHERE id IN (5, 6)",
    "UPDATE docs SET tag = 'b'",
    "UPDATE docs SET tag = 'c', body = 'smaller' WHERE id = 2",
    "UPDATE docs SET id = 3 WHERE id = 2",
    "TRUNCATE docs",
    "ALTER TABLE items ADD COLUMN extra int",
    "INSERT INTO items " + ROWS.format(300, 320).replace(" FROM", ", 7 FROM"),
    "UPDATE items SET extra = id WHERE id BETWEEN 300 AND 310",
]
IN_ONE_TRANSACTION = [
    "UPDATE items SET qty = 0 WHERE id BETWEEN 30 AND 40",
    "UPDATE items SET id = 2000 WHERE id = 41",
    "DELETE FROM items WHERE id = 42",
    "ALTER TABLE items ADD COLUMN note text",
    "INSERT INTO items (id, name, note) VALUES (500, 'late', 'n')",
    "UPDATE items SET qty = 1 WHERE id BETWEEN 43 AND 50",
]


def test_server_changes_publish_the_same_records(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, "
            "amount numeric(12,2), created timestamptz, active boolean, qty int, d date, t time, "
            "u uuid, b bytea, f float8, r real, j jsonb, v varchar(20), ts timestamp)"
        )
        conn.execute("CREATE TABLE docs (id int PRIMARY KEY, body text, tag text)")
        conn.execute("ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL")
        conn.execute("ALTER TABLE docs REPLICA IDENTITY FULL")
        conn.execute("CREATE PUBLICATION native_pub FOR TABLE items, docs")
        slot = f"native_{uuid.uuid4().hex[:8]}"
        start = make_slot(slot)
        for statement in WORKLOAD:
            conn.execute(statement)
        with conn.transaction():
            for statement in IN_ONE_TRANSACTION:
                conn.execute(statement)
    commits = sum(not s.startswith("ALTER") for s in WORKLOAD) + 1  # DDL alone sends none
    messages = read_slot(slot, "native_pub", start, commits)
    _python, native = run([encode_message(m) for m in messages])
    assert (
        native.native_published > 150
    )  # the first transaction of a table registers it: Python path
    assert len(native.producer.records) > 400
