from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from strangler.connectors.postgres.errors import DecodeError, UnknownRelation
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    ColumnValue,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Oid,
    OldKind,
    Origin,
    PgOutputMessage,
    PgTimestamp,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)
from strangler.connectors.postgres.pgoutput import PgOutputDecoder
from strangler.connectors.postgres.pgoutput_encoder import encode_message
from strangler.connectors.postgres.transactions import (
    Transaction,
    TransactionAssembler,
    unchanged_columns,
)
from strangler.core.events import Op, TableId

pytestmark = pytest.mark.unit

T1, T2 = Oid(100), Oid(200)
ORDERS = Relation(
    None,
    T1,
    "shop",
    "orders",
    ReplicaIdentity.DEFAULT,
    (
        RelationColumn(True, "id", Oid(23), -1),
        RelationColumn(False, "note", Oid(25), -1),
        RelationColumn(False, "doc", Oid(25), -1),
    ),
)
ITEMS = Relation(
    None, T2, "", "items", ReplicaIdentity.FULL, (RelationColumn(False, "sku", Oid(25), -1),)
)
PG_TS = PgTimestamp(1_000_000)  # 2000-01-01 00:00:01 UTC
UNIX_TS = 946_684_801_000_000


def row(*values: ColumnValue) -> TupleData:
    return TupleData(values)


def begin(xid: int, commit: int) -> Begin:
    return Begin(Lsn(commit), PG_TS, xid)


def commit(commit_lsn: int, end: int) -> Commit:
    return Commit(0, Lsn(commit_lsn), Lsn(end), PG_TS)


def run(messages: Sequence[Any], **kwargs: Any) -> list[Transaction]:
    assembler = TransactionAssembler(**kwargs)
    out = [assembler.feed(m) for m in messages]
    return [t for t in out if t is not None]


def test_insert_update_delete_in_one_transaction() -> None:
    [tx] = run(
        [
            begin(7, 0x50),
            ORDERS,
            Insert(None, T1, row("1", "a", "x")),
            Update(None, T1, None, None, row("1", "b", "x")),
            Delete(None, T1, OldKind.KEY, row("1", None, None)),
            commit(0x50, 0x58),
        ]
    )
    assert (tx.xid, tx.commit_lsn, tx.end_lsn, tx.commit_ts_us) == (
        7,
        Lsn(0x50),
        Lsn(0x58),
        UNIX_TS,
    )
    create, update, delete = list(tx.events())
    assert create.op is Op.CREATE and create.table == TableId("shop", "orders")
    assert create.key == {"id": "1"} and create.before is None
    assert create.after == {"id": "1", "note": "a", "doc": "x"}
    assert update.op is Op.UPDATE and update.before is None and update.after is not None
    assert update.after["note"] == "b"
    assert delete.op is Op.DELETE and delete.after is None
    assert delete.key == {"id": "1"} and delete.before == {"id": "1"}
    for event in tx.events():
        assert event.position == Lsn(0x58)
        assert event.commit_ts_us == UNIX_TS and event.tx_id == "7"


def test_transactions_come_out_in_commit_order_with_their_own_positions() -> None:
    txs = run(
        [
            ORDERS,
            begin(1, 16),
            Insert(None, T1, row("1", None, None)),
            commit(16, 24),
            begin(2, 32),
            Insert(None, T1, row("2", None, None)),
            commit(32, 40),
        ]
    )
    assert [t.xid for t in txs] == [1, 2]
    assert [next(t.events()).position for t in txs] == [Lsn(0x18), Lsn(0x28)]
    assert next(txs[0].events()).position < next(txs[1].events()).position


def test_truncate_gives_one_event_per_table() -> None:
    [tx] = run([ORDERS, ITEMS, begin(3, 1), Truncate(None, False, False, (T1, T2)), commit(1, 2)])
    assert [(e.op, e.table, e.key, e.before, e.after) for e in tx.events()] == [
        (Op.TRUNCATE, TableId("shop", "orders"), None, None, None),
        (Op.TRUNCATE, TableId("pg_catalog", "items"), None, None, None),
    ]


def test_unchanged_toast_stays_a_sentinel_without_a_full_old_image() -> None:
    [tx] = run(
        [
            ORDERS,
            begin(1, 1),
            Update(None, T1, None, None, row("1", "n", UNCHANGED_TOAST)),
            commit(1, 2),
        ]
    )
    after = next(tx.events()).after
    assert after is not None and after["doc"] is UNCHANGED_TOAST
    assert unchanged_columns(after) == ["doc"]


def test_unchanged_toast_is_taken_from_a_full_old_image() -> None:
    full = Relation(None, T1, "shop", "orders", ReplicaIdentity.FULL, ORDERS.columns)
    update = Update(
        None, T1, OldKind.FULL, row("1", "old", "big text"), row("1", "new", UNCHANGED_TOAST)
    )
    [tx] = run([full, begin(1, 1), update, commit(1, 2)])
    event = next(tx.events())
    assert event.after == {"id": "1", "note": "new", "doc": "big text"}
    assert event.before == {"id": "1", "note": "old", "doc": "big text"}
    assert unchanged_columns(event.after) == []


def test_key_change_update_carries_key_only_before_image() -> None:
    update = Update(None, T1, OldKind.KEY, row("1", None, None), row("2", "n", "d"))
    [tx] = run([ORDERS, begin(1, 1), update, commit(1, 2)])
    event = next(tx.events())
    assert event.before == {"id": "1"} and event.key == {"id": "2"}


def test_configured_key_overrides_replica_identity() -> None:
    [tx] = run(
        [ITEMS, begin(1, 1), Insert(None, T2, row("sku-9")), commit(1, 2)],
        key_columns={TableId("pg_catalog", "items"): ["sku"]},
    )
    assert next(tx.events()).key == {"sku": "sku-9"}


def test_table_without_key_columns_has_no_key() -> None:
    [tx] = run([ITEMS, begin(1, 1), Insert(None, T2, row("a")), commit(1, 2)])
    assert next(tx.events()).key is None


def test_changes_use_the_relation_definition_in_force_when_they_arrived() -> None:
    renamed = Relation(None, T1, "shop", "orders_v2", ReplicaIdentity.DEFAULT, ORDERS.columns)
    [tx] = run(
        [
            ORDERS,
            begin(1, 1),
            Insert(None, T1, row("1", None, None)),
            renamed,
            Insert(None, T1, row("2", None, None)),
            commit(1, 2),
        ]
    )
    assert [e.table.name for e in tx.events()] == ["orders", "orders_v2"]


def test_origin_recorded_and_logical_messages_ignored() -> None:
    message = LogicalMessage(None, True, Lsn(1), "app", b"x")
    [tx] = run([begin(1, 1), Origin(Lsn(9), "node_a"), message, commit(1, 2)])
    assert tx.origin == "node_a" and list(tx.events()) == []
    assert run([LogicalMessage(None, False, Lsn(1), "app", b"x")]) == []


def test_change_for_unknown_relation() -> None:
    with pytest.raises(UnknownRelation) as info:
        run([begin(1, 1), Insert(None, Oid(999), row("1"))])
    assert info.value.oid == 999


def test_change_outside_transaction() -> None:
    with pytest.raises(DecodeError):
        run([ORDERS, Insert(None, T1, row("1", None, None))])
    with pytest.raises(DecodeError):
        run([commit(1, 2)])


def test_streamed_transactions_interleave_abort_and_commit() -> None:
    def ins(xid: int, key: str) -> Insert:
        return Insert(xid, T1, row(key, None, None))

    txs = run(
        [
            ORDERS,
            StreamStart(10, True), ins(10, "a"), ins(11, "sub"), StreamStop(),
            StreamStart(20, True), ins(20, "x"), StreamStop(),
            StreamStart(10, False), ins(10, "b"), StreamStop(),
            StreamAbort(10, 11),  # subtransaction 11 of 10 rolled back
            StreamAbort(20, 20),  # all of 20 rolled back
            StreamCommit(10, 0, Lsn(0x90), Lsn(0x98), PG_TS),
        ]
    )  # fmt: skip
    [tx] = txs
    assert tx.xid == 10 and tx.end_lsn == Lsn(0x98)
    assert [e.key for e in tx.events()] == [{"id": "a"}, {"id": "b"}]


def test_assembles_from_decoded_bytes() -> None:
    decoder, assembler = PgOutputDecoder(), TransactionAssembler()
    stream: list[PgOutputMessage] = [
        ORDERS,
        begin(5, 0x30),
        Insert(None, T1, row("1", "é", None)),
        commit(0x30, 0x38),
    ]
    out = [assembler.feed(decoder.decode(encode_message(m))) for m in stream]
    tx = out[-1]
    assert tx is not None and next(tx.events()).after == {"id": "1", "note": "é", "doc": None}


def test_large_transactions_spill_to_disk_with_the_same_events() -> None:
    inserts = [Insert(None, T1, row(str(i), None, None)) for i in range(50)]
    messages = [ORDERS, begin(1, 1), *inserts, commit(1, 2)]
    [small] = run(messages, max_in_memory=5)
    [large] = run(messages)
    assert small.changes == large.changes == 50
    assert list(small.events()) == list(large.events())
    assert list(small.events()) == list(small.events())  # may be read again


def test_streamed_subtransaction_abort_after_spilling() -> None:
    stream = [ORDERS, StreamStart(10, True)]
    stream += [Insert(10 if i % 2 else 11, T1, row(str(i), None, None)) for i in range(10)]
    stream += [StreamStop(), StreamAbort(10, 11), StreamCommit(10, 0, Lsn(9), Lsn(10), PG_TS)]
    [tx] = run(stream, max_in_memory=3)
    assert tx.changes == 5
    assert [e.key for e in tx.events()] == [{"id": str(i)} for i in range(1, 10, 2)]
