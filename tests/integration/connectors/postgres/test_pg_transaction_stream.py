"""Transactions from a real server: ops, keys, positions, unchanged TOAST, partitions, truncate."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from strangler.connectors.postgres.catalog import load_types
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    PgOutputMessage,
    Relation,
    StreamAbort,
    StreamStart,
)
from strangler.connectors.postgres.rows import RowDecoder
from strangler.connectors.postgres.transactions import Transaction, TransactionAssembler
from strangler.connectors.postgres.types import TypeInfo
from strangler.core.events import Op, TableId

pytestmark = pytest.mark.integration

ReadSlot = Callable[..., list[PgOutputMessage]]
MakeSlot = Callable[[str], Lsn]
BIG = "x" * 100_000  # compressible, but above the TOAST threshold: stored out of line
BIG_STORAGE = "ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL"  # no compression


def _execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _assemble(
    dsn: str, messages: list[PgOutputMessage], max_in_memory: int = 10_000
) -> list[Transaction]:
    catalog: dict[int, TypeInfo] = {}
    assembler = TransactionAssembler(convert=RowDecoder(catalog), max_in_memory=max_in_memory)
    out = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for message in messages:
            if isinstance(message, Relation):
                catalog.update(load_types(conn, [c.type_oid for c in message.columns]))
            transaction = assembler.feed(message)
            if transaction is not None:
                out.append(transaction)
    return out


def test_changes_keys_positions_and_commit_order(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    _execute(
        pg_database,
        'CREATE TABLE "Order Lines" (order_id int, line int, qty int, '
        "PRIMARY KEY (order_id, line))",
        """CREATE PUBLICATION pub FOR TABLE "Order Lines" """,
    )
    start = make_slot("s_tx")
    _execute(
        pg_database,
        """INSERT INTO "Order Lines" VALUES (1, 1, 5), (1, 2, 7)""",
        """BEGIN; UPDATE "Order Lines" SET qty = 6 WHERE line = 1;
           UPDATE "Order Lines" SET line = 3 WHERE line = 2;
           DELETE FROM "Order Lines" WHERE line = 1; COMMIT""",
        """TRUNCATE "Order Lines" """,
    )
    first, second, third = _assemble(pg_database, read_slot("s_tx", "pub", start, 3))
    table = TableId("public", "Order Lines")
    assert [(e.op, e.key) for e in first.events()] == [
        (Op.CREATE, {"order_id": 1, "line": 1}),
        (Op.CREATE, {"order_id": 1, "line": 2}),
    ]
    update, key_change, delete = list(second.events())
    assert update.op is Op.UPDATE and update.before is None
    assert update.after == {"order_id": 1, "line": 1, "qty": 6}
    assert key_change.before == {"order_id": 1, "line": 2}  # old key ('K' tuple)
    assert key_change.key == {"order_id": 1, "line": 3}
    assert delete.op is Op.DELETE and delete.after is None
    assert delete.key == {"order_id": 1, "line": 1}
    assert [(e.op, e.table) for e in third.events()] == [(Op.TRUNCATE, table)]
    assert first.end_lsn < second.end_lsn < third.end_lsn
    for transaction in (first, second, third):
        assert {e.position for e in transaction.events()} == {transaction.end_lsn}
        assert {e.tx_id for e in transaction.events()} == {str(transaction.xid)}
    with psycopg.connect(pg_database) as conn:
        row = conn.execute("SELECT (extract(epoch FROM now()) * 1e6)::bigint").fetchone()
    assert row is not None and 0 <= row[0] - first.commit_ts_us < 60_000_000


def test_unchanged_toast_is_never_published_as_data(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    _execute(
        pg_database,
        "CREATE TABLE docs (id int PRIMARY KEY, title text, body text)",
        BIG_STORAGE,
        "CREATE TABLE docs_full (id int PRIMARY KEY, title text, body text)",
        "ALTER TABLE docs_full ALTER COLUMN body SET STORAGE EXTERNAL",
        "ALTER TABLE docs_full REPLICA IDENTITY FULL",
        "CREATE PUBLICATION pub FOR TABLE docs, docs_full",
        f"INSERT INTO docs VALUES (1, 'a', '{BIG}')",
        f"INSERT INTO docs_full VALUES (1, 'a', '{BIG}')",
    )
    start = make_slot("s_toast")
    _execute(
        pg_database,
        "UPDATE docs SET title = 'b' WHERE id = 1",
        "UPDATE docs_full SET title = 'b' WHERE id = 1",
    )
    plain, full = _assemble(pg_database, read_slot("s_toast", "pub", start, 2))
    after = next(plain.events()).after
    assert after is not None and after["title"] == "b"
    assert after["body"] is UNCHANGED_TOAST  # the server did not send it; we do not invent it
    full_after = next(full.events()).after
    assert full_after is not None and full_after["body"] == BIG  # taken from the full old row


def test_partitions_publish_as_the_root(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    _execute(
        pg_database,
        "CREATE TABLE events (id int, region text, PRIMARY KEY (id, region)) "
        "PARTITION BY LIST (region)",
        "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu')",
        "CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us')",
        "CREATE PUBLICATION pub FOR TABLE events WITH (publish_via_partition_root = true)",
    )
    start = make_slot("s_part")
    _execute(pg_database, "INSERT INTO events VALUES (1, 'eu'), (2, 'us')")
    [transaction] = _assemble(pg_database, read_slot("s_part", "pub", start, 1))
    assert [(e.table, e.key) for e in transaction.events()] == [
        (TableId("public", "events"), {"id": 1, "region": "eu"}),
        (TableId("public", "events"), {"id": 2, "region": "us"}),
    ]


def test_streamed_large_transaction_with_rolled_back_savepoint(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    _execute(
        pg_database,
        "CREATE TABLE big (id int PRIMARY KEY, pad text)",
        "CREATE PUBLICATION pub FOR TABLE big",
    )
    start = make_slot("s_stream")
    _execute(
        pg_database,
        """BEGIN;
           INSERT INTO big SELECT g, repeat('p', 200) FROM generate_series(1, 2000) g;
           SAVEPOINT sp;
           INSERT INTO big SELECT g, repeat('q', 200) FROM generate_series(2001, 4000) g;
           ROLLBACK TO SAVEPOINT sp;
           INSERT INTO big VALUES (5000, 'last');
           COMMIT""",
    )
    # 64kB of decoding memory forces the server to stream the transaction before it commits
    messages = read_slot(
        "s_stream",
        "pub",
        start,
        1,
        proto_version="2",
        streaming="on",
        session="-c logical_decoding_work_mem=64kB",
    )
    assert any(isinstance(m, StreamStart) for m in messages)
    assert any(isinstance(m, StreamAbort) for m in messages)  # the savepoint's subtransaction
    [transaction] = _assemble(pg_database, messages, max_in_memory=500)  # spills to disk
    ids = [e.key["id"] for e in transaction.events() if e.key is not None]
    assert ids == [*range(1, 2001), 5000]
    assert {e.op for e in transaction.events()} == {Op.CREATE}
