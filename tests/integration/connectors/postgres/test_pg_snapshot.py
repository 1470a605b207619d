"""Consistent snapshot: read tables as of the slot's consistent point, then stream from it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import Insert, PgOutputMessage
from strangler.connectors.postgres.pgtext import libpq_options
from strangler.connectors.postgres.slot import create_slot, drop_slot, identify_system
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.core.events import Op, TableId

pytestmark = pytest.mark.integration

ReadSlot = Callable[..., list[PgOutputMessage]]
TABLE = TableId("Sales", "Line Items")


def _execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _setup(dsn: str) -> None:
    _execute(
        dsn,
        'CREATE SCHEMA "Sales"',
        'CREATE TABLE "Sales"."Line Items" (tag text, n int, price numeric(8,2), u uuid, '
        "note text, PRIMARY KEY (tag, n))",
        "CREATE TABLE keyless (v text)",
        'CREATE PUBLICATION pub FOR TABLE "Sales"."Line Items", keyless',
        """INSERT INTO "Sales"."Line Items"
           SELECT CASE WHEN g % 2 = 0 THEN 'b''x' ELSE 'a\tb' END, g, g / 100.0,
                  md5(g::text)::uuid, CASE WHEN g % 7 = 0 THEN NULL ELSE 'ü\n' || g END
           FROM generate_series(1, 2500) g""",
        "INSERT INTO keyless VALUES ('k1'), ('k2')",
    )


def _replication(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        dsn, replication="database", autocommit=True, prepare_threshold=None,
        options=libpq_options(),
    )  # fmt: skip


def test_snapshot_then_stream_without_gap_or_overlap(pg_database: str, read_slot: ReadSlot) -> None:
    _setup(pg_database)
    with _replication(pg_database) as rconn:
        assert identify_system(rconn).database is not None
        slot = create_slot(rconn, "s_snap", export_snapshot=True)
        assert slot.snapshot_name is not None
        # committed after the slot: must be streamed, and must not be in the snapshot
        _execute(
            pg_database, """INSERT INTO "Sales"."Line Items" VALUES ('zz', 1, 1, NULL, NULL)"""
        )
        with (
            psycopg.connect(pg_database) as conn,
            SnapshotReader(
                conn, slot.snapshot_name, slot.consistent_point, chunk_rows=1000
            ) as reader,
        ):
            relation = reader.describe(TABLE)
            chunks = list(reader.read(relation))
            keyless = [
                e
                for chunk in reader.read(reader.describe(TableId("public", "keyless")))
                for e in chunk
            ]
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    events = [e for chunk in chunks for e in chunk]
    assert {e.op for e in events} == {Op.READ} and {e.position for e in events} == {
        slot.consistent_point
    }
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            'SELECT tag, n, price, u, note FROM "Sales"."Line Items" '
            "WHERE tag <> %s ORDER BY tag, n",
            ("zz",),
        ).fetchall()
    got = [tuple((e.after or {})[k] for k in ("tag", "n", "price", "u", "note")) for e in events]
    assert got == rows
    assert events[0].key == {"tag": rows[0][0], "n": rows[0][1]}
    assert isinstance(events[0].after and events[0].after["price"], Decimal)
    assert isinstance(events[0].after and events[0].after["u"], uuid.UUID)
    assert sorted((e.after or {})["v"] for e in keyless) == ["k1", "k2"] and keyless[0].key is None

    messages = read_slot("s_snap", "pub", slot.consistent_point, 1)
    inserts = [m for m in messages if isinstance(m, Insert)]
    assert [m.new.values[:2] for m in inserts] == [("zz", "1")]


def test_slot_without_snapshot_and_drop(pg_database: str) -> None:
    with _replication(pg_database) as rconn:
        slot = create_slot(rconn, "s_plain", export_snapshot=False, temporary=False)
        assert slot.snapshot_name is None and slot.consistent_point > Lsn(0)
        drop_slot(rconn, "s_plain")
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name='s_plain'"
        ).fetchone()
    assert row == (0,)
