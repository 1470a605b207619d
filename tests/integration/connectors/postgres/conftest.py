"""Helpers for PostgreSQL connector integration tests: read a slot through a real walsender."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest

from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import Commit, PgOutputMessage, StreamCommit
from strangler.connectors.postgres.pgoutput import PgOutputDecoder
from strangler.connectors.postgres.pgtext import libpq_options
from strangler.connectors.postgres.walsender import ReplicationStream, XLogData

ReadSlot = Callable[..., list[PgOutputMessage]]
MakeSlot = Callable[[str], Lsn]


def _create_slot(dsn: str, slot: str) -> Lsn:
    """A pgoutput slot made with the SQL function; returns its starting LSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT lsn FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,)
        ).fetchone()
    assert row is not None
    return Lsn.parse(str(row[0]))


def _read(
    dsn: str, slot: str, start: Lsn, publication: str, commits: int, **options: str
) -> list[PgOutputMessage]:
    """Messages up to the n-th (Stream) Commit; ``options`` are extra pgoutput options, and
    ``session`` extra libpq ``options`` for the walsender session."""
    session = options.pop("session", "")
    conn = psycopg.connect(
        dsn,
        replication="database",
        autocommit=True,
        prepare_threshold=None,
        options=f"{libpq_options()} {session}",
    )
    out: list[PgOutputMessage] = []
    decoder, deadline = PgOutputDecoder(), time.monotonic() + 30
    with conn:
        stream = ReplicationStream.start(conn, slot, start, [publication], options)
        while sum(isinstance(m, Commit | StreamCommit) for m in out) < commits:
            assert time.monotonic() < deadline, f"timed out after {out}"
            message = stream.read(0.5)
            if isinstance(message, XLogData):
                out.append(decoder.decode(message.payload))
        stream.stop()
    return out


@pytest.fixture
def read_slot(pg_database: str) -> ReadSlot:
    """``read_slot(slot, publication, start, commits, **options)``: see ``_read``."""

    def read(
        slot: str, publication: str, start: Lsn, commits: int, **options: str
    ) -> list[PgOutputMessage]:
        return _read(pg_database, slot, start, publication, commits, **options)

    return read


@pytest.fixture
def make_slot(pg_database: str) -> MakeSlot:
    """``make_slot(name)``: a pgoutput slot in the test's database; returns its start LSN."""

    def make(slot: str) -> Lsn:
        return _create_slot(pg_database, slot)

    return make
