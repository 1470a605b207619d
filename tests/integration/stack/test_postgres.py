"""The stack's PostgreSQL: logical decoding is on, and a replication connection can create a
pgoutput slot with an exported snapshot and stream changes from it."""

from __future__ import annotations

import select
import struct
import time

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_server_is_configured_for_logical_replication(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('wal_level', 'max_replication_slots', 'max_wal_senders')"
            ).fetchall()
        )
    assert settings["wal_level"] == "logical"
    assert int(settings["max_replication_slots"]) >= 10
    assert int(settings["max_wal_senders"]) >= 10


def test_replication_connection_creates_slot_and_streams_an_insert(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn.execute("CREATE PUBLICATION pub FOR TABLE items")
    repl = psycopg.connect(
        pg_database, replication="database", autocommit=True, prepare_threshold=None
    )
    try:
        slot, point, snapshot, plugin = (
            repl.execute(
                "CREATE_REPLICATION_SLOT s1 LOGICAL pgoutput (SNAPSHOT 'export')"
            ).fetchone()
            or ()
        )
        assert (slot, plugin) == ("s1", "pgoutput") and snapshot
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("INSERT INTO items VALUES (1, 'widget')")
        repl.execute(
            f"START_REPLICATION SLOT s1 LOGICAL {point} "
            "(proto_version '1', publication_names 'pub')"
        )
        kinds = read_pgoutput_kinds(repl, until=b"C")
    finally:
        repl.close()
    assert kinds == [b"B", b"R", b"I", b"C"]  # Begin, Relation, Insert, Commit


def read_pgoutput_kinds(
    conn: psycopg.Connection[tuple[object, ...]], until: bytes, timeout: float = 20
) -> list[bytes]:
    """First byte of each pgoutput message in XLogData frames, up to message kind ``until``."""
    pg = conn.pgconn
    kinds: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, data = pg.get_copy_data(1)
        if n == 0:
            if select.select([pg.socket], [], [], 0.5)[0]:
                pg.consume_input()
            continue
        frame = bytes(data)
        if frame[:1] == b"w":
            struct.unpack_from("!qqq", frame, 1)
            kinds.append(frame[25:26])
            if kinds[-1] == until:
                return kinds
    raise AssertionError(f"no {until!r} message within {timeout} s; got {kinds}")
