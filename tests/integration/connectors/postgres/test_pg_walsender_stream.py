"""Streaming from a real walsender: START_REPLICATION, decode, confirm, stop."""

from __future__ import annotations

import time

import psycopg
import pytest

from strangler.connectors.postgres.errors import ReplicationError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    Begin,
    Commit,
    Insert,
    LogicalMessage,
    PgOutputMessage,
    Relation,
    TupleData,
)
from strangler.connectors.postgres.pgoutput import PgOutputDecoder
from strangler.connectors.postgres.walsender import Keepalive, ReplicationStream, XLogData

pytestmark = pytest.mark.integration


def _prepare(dsn: str) -> Lsn:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Mixed Case" (id int PRIMARY KEY, v text)')
        conn.execute('CREATE PUBLICATION "Pub, One" FOR TABLE "Mixed Case"')
        row = conn.execute(
            "SELECT lsn FROM pg_create_logical_replication_slot('s_walsender', 'pgoutput')"
        ).fetchone()
        assert row is not None
        conn.execute("""INSERT INTO "Mixed Case" VALUES (1, 'één')""")
        conn.execute("SELECT pg_logical_emit_message(true, 'pfx', 'hello')")
        return Lsn.parse(str(row[0]))


def _read_until_commits(stream: ReplicationStream, count: int) -> list[tuple[Lsn, PgOutputMessage]]:
    decoder, deadline = PgOutputDecoder(), time.monotonic() + 20
    out: list[tuple[Lsn, PgOutputMessage]] = []
    while sum(isinstance(m, Commit) for _, m in out) < count:
        assert time.monotonic() < deadline, f"timed out; got {out}"
        message = stream.read(0.5)
        if isinstance(message, XLogData):
            out.append((message.start, decoder.decode(message.payload)))
    return out


def _confirmed_flush(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's_walsender'"
        ).fetchone()
        assert row is not None
        return str(row[0])


def test_stream_decode_confirm_and_stop(pg_database: str) -> None:
    start = _prepare(pg_database)
    conn = psycopg.connect(
        pg_database, replication="database", autocommit=True, prepare_threshold=None
    )
    with conn:
        stream = ReplicationStream.start(
            conn, "s_walsender", start, ["Pub, One"], {"messages": "true"}
        )
        got = _read_until_commits(stream, 2)
        kinds = [type(m) for _, m in got]
        assert kinds[:4] == [Begin, Relation, Insert, Commit]
        relation, insert = got[1][1], got[2][1]
        assert isinstance(relation, Relation) and relation.name == "Mixed Case"
        assert isinstance(insert, Insert) and insert.new == TupleData(("1", "één"))
        assert LogicalMessage in kinds
        start_lsn, last_commit = got[-1]
        assert isinstance(last_commit, Commit)
        # quirk relied upon for feedback: the XLogData carrying a Commit starts at its end LSN
        assert start_lsn == last_commit.end_lsn
        stream.confirm(last_commit.end_lsn)
        stream.stop()
    assert Lsn.parse(_confirmed_flush(pg_database)) == last_commit.end_lsn


def test_keepalives_are_answered_so_an_idle_stream_survives(pg_database: str) -> None:
    start = _prepare(pg_database)
    conn = psycopg.connect(
        pg_database,
        replication="database",
        autocommit=True,
        prepare_threshold=None,
        options="-c wal_sender_timeout=1s",  # the server drops a silent client after 1 s
    )
    with conn:
        stream = ReplicationStream.start(conn, "s_walsender", start, ["Pub, One"])
        _read_until_commits(stream, 1)
        idle_until, asked = time.monotonic() + 3, 0
        while time.monotonic() < idle_until:
            message = stream.read(0.2)
            asked += isinstance(message, Keepalive) and message.reply_requested
        assert asked >= 1
        with psycopg.connect(pg_database, autocommit=True) as other:
            other.execute("""INSERT INTO "Mixed Case" VALUES (2, 'still here')""")
        got = _read_until_commits(stream, 1)
        inserts = [m for _, m in got if isinstance(m, Insert)]
        assert [m.new.values for m in inserts] == [("2", "still here")]
        stream.stop()


def test_a_dropped_connection_is_a_retriable_replication_error(pg_database: str) -> None:
    start = _prepare(pg_database)
    conn = psycopg.connect(
        pg_database, replication="database", autocommit=True, prepare_threshold=None
    )
    try:
        stream = ReplicationStream.start(conn, "s_walsender", start, ["Pub, One"])
        _read_until_commits(stream, 1)
        with psycopg.connect(pg_database, autocommit=True) as other:
            other.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE slot_name = 's_walsender'"
            )
        with pytest.raises(ReplicationError) as info:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                stream.read(0.2)
        assert info.value.retriable
    finally:
        conn.close()  # not `with conn`: leaving it would try to COMMIT on a dead connection
