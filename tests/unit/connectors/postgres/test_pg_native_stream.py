"""The native streaming path (``native_stream``) publishes exactly what the Python path does:
the same records (topic, key, value, partition) with the same headers, in the same order, for
transactions mixing native rows with everything the Python path keeps (deletes, key changes,
unchanged TOAST, truncates, schema changes, streamed blocks, spilled changes), and the same
error where the Python path stops. Malformed messages raise, they never crash."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    ColumnValue,
    Commit,
    Delete,
    Insert,
    Oid,
    OldKind,
    PgOutputMessage,
    PgTimestamp,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)
from strangler.connectors.postgres.native_stream import NativeRow, NativeRows
from strangler.connectors.postgres.pgoutput import PgOutputDecoder
from strangler.connectors.postgres.pgoutput_encoder import encode_message
from strangler.connectors.postgres.relations import table_id
from strangler.connectors.postgres.rows import RowDecoder, table_schema
from strangler.connectors.postgres.schemas import TableShapes
from strangler.connectors.postgres.source import StreamingSource
from strangler.connectors.postgres.transactions import Transaction, TransactionAssembler
from strangler.connectors.publisher import Publisher
from strangler.core.events import TableId
from strangler.core.schema import TableSchema
from tests.unit.connectors.test_publisher_reads import Producer as ReadsProducer

pytestmark = pytest.mark.unit

ITEMS_OID, FULL_OID, OTHER_OID = Oid(100), Oid(200), Oid(300)


def column(name: str, type_oid: int, key: bool = False, modifier: int = -1) -> RelationColumn:
    return RelationColumn(key, name, Oid(type_oid), modifier)


NUMERIC_12_2 = ((12 << 16) | 2) + 4
ITEMS_COLUMNS = (
    column("id", 20, key=True),
    column("name", 25),
    column("amount", 1700, modifier=NUMERIC_12_2),
    column("created", 1184),
    column("active", 16),
    column("qty", 23),
)
ITEMS = Relation(None, ITEMS_OID, "public", "items", ReplicaIdentity.DEFAULT, ITEMS_COLUMNS)
ITEMS_WIDER = Relation(
    None, ITEMS_OID, "public", "items", ReplicaIdentity.DEFAULT, (*ITEMS_COLUMNS, column("x", 23))
)
FULL = Relation(
    None, FULL_OID, "public", "docs", ReplicaIdentity.FULL,
    (column("id", 23, key=True), column("body", 25), column("tag", 25)),
)  # fmt: skip
OTHER = Relation(
    None, OTHER_OID, "public", "other", ReplicaIdentity.DEFAULT, (column("id", 23, True),)
)

CAPTURED: dict[TableId, tuple[str, ...]] = {
    TableId("public", "items"): ("id",),
    TableId("public", "docs"): ("id",),
}


class Producer(ReadsProducer):
    """Delivers everything on poll; two partitions per topic."""

    def flush(self, timeout: float) -> int:
        return self.poll(timeout)

    def list_topics(self, topic: str, timeout: float) -> Any:
        partitions = {0: None, 1: None}
        return SimpleNamespace(topics={topic: SimpleNamespace(partitions=partitions)})


class Registrar:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def register(self, subject: str, schema: Any) -> int:
        return self.ids.setdefault(f"{subject}{schema}", len(self.ids) + 1)


class Capture:
    def __init__(self, excluded: dict[TableId, tuple[str, ...]]) -> None:
        self.excluded = excluded

    def options(self, table: TableId) -> Any:
        return SimpleNamespace(exclude_columns=self.excluded.get(table, ()))


def topic_for(table: TableId) -> str:
    return f"p.{table.schema}.{table.name}"


class Pipeline:
    """The connector's streaming path over message bytes, with no services: the source's feed,
    the assembler, schema registration at commit, projection and the publisher."""

    def __init__(
        self,
        native: bool,
        *,
        keys: dict[TableId, tuple[str, ...]] | None = None,
        excluded: dict[TableId, tuple[str, ...]] | None = None,
        max_in_memory: int = 10_000,
    ) -> None:
        keys = keys or CAPTURED
        self.serializer = FastTableSerializer(Registrar(), "ns")
        self.shapes = TableShapes(
            cast(Any, Capture(excluded or {})), keys, self.serializer, topic_for, {}
        )
        self.native = NativeRows(self.shapes, self.serializer, topic_for) if native else None
        self.assembler = TransactionAssembler(
            key_columns=keys, convert=RowDecoder({}), max_in_memory=max_in_memory,
            native=self.native,
        )  # fmt: skip
        source = object.__new__(StreamingSource)  # no connection: fed message bytes directly
        source._decoder = PgOutputDecoder()
        source._assembler = self.assembler
        source._relations = []
        source._messages = []
        source.in_transaction = False
        self.source = source
        self.producer = Producer()
        self.publisher = Publisher(cast(Any, self.producer), self.serializer, topic_for, "pg_lsn")
        self.transactions: list[Transaction] = []
        self.counts: list[int] = []
        self.native_published = 0
        """Rows published as encoded at arrival."""

    def register(self, relation: Relation) -> None:
        """What ``TableShapes.update`` does, without the catalog queries."""
        table = table_id(relation)
        if table not in self.shapes.tables:
            return
        keys = self.shapes.key_columns()[table]
        full = table_schema(relation, {}, not_null=frozenset(), key=keys)
        excluded = self.shapes._excluded[table]
        columns = tuple(c for c in full.columns if c.name not in excluded)
        schema = TableSchema(table, columns, full.key)
        self.serializer.prepare(topic_for(table), schema)
        self.shapes.schemas[table] = schema
        self.shapes.version += 1

    def feed(self, payload: bytes) -> None:
        transaction = self.source._feed(payload)
        if transaction is not None:
            self.transactions.append(transaction)
            self._publish(transaction)

    def _publish(self, transaction: Transaction) -> None:  # as _StreamLoop._publish
        for relation in self.source.take_relations():
            self.register(relation)
        events = list(self.shapes.project(transaction.items()))
        self.counts.append(len(events))
        self.native_published += sum(isinstance(e, NativeRow) for e in events)
        self.publisher.publish(
            events, self.shapes.schemas, transaction.end_lsn,
            commit_ts_us=transaction.commit_ts_us, tx_id=str(transaction.xid),
        )  # fmt: skip
        self.producer.poll(0)


def run(payloads: Sequence[bytes], **options: Any) -> tuple[Pipeline, Pipeline]:
    """Both paths over the same messages; their records, counts and events are the same."""
    python, native = Pipeline(False, **options), Pipeline(True, **options)
    for payload in payloads:
        python.feed(payload)
        native.feed(payload)
    assert native.producer.records == python.producer.records
    assert native.counts == python.counts
    assert native.publisher.acknowledged() == python.publisher.acknowledged()
    for ours, theirs in zip(native.transactions, python.transactions, strict=True):
        # what incremental snapshots read (repr: a NaN is not equal to itself)
        assert repr(list(ours.events())) == repr(list(theirs.events()))
    return python, native


def same_outcome(payloads: Sequence[bytes], **options: Any) -> None:
    """Both paths write the same records, or raise the same kind of error."""
    try:
        run(payloads, **options)
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the native path must fail the same way
        error = type(exc)
        native = Pipeline(True, **options)
        with pytest.raises(error):
            for payload in payloads:
                native.feed(payload)


def encode(*messages: PgOutputMessage | bytes) -> list[bytes]:
    return [m if isinstance(m, bytes) else encode_message(m) for m in messages]


def tx(xid: int, *changes: PgOutputMessage | bytes, end: int | None = None) -> list[bytes]:
    end = end or xid * 1000
    return encode(
        Begin(Lsn(end - 1), PgTimestamp(xid * 1_000_000), xid),
        *changes,
        Commit(0, Lsn(end - 1), Lsn(end), PgTimestamp(xid * 1_000_000)),
    )


def item(i: int, name: str = "n", *, created: str | None = "2024-01-01 00:00:01+00") -> TupleData:
    values: tuple[ColumnValue, ...] = (str(i), f"{name}{i}", f"{i}.25", created, "t", str(i % 7))
    return TupleData(values)


def ins(i: int, **kwargs: Any) -> Insert:
    return Insert(None, ITEMS_OID, item(i, **kwargs))


def upd(i: int, name: str = "u", old: TupleData | None = None) -> Update:
    kind = None if old is None else OldKind.KEY
    return Update(None, ITEMS_OID, kind, old, item(i, name))


def key_only(i: int) -> TupleData:
    return TupleData((str(i), None, None, None, None, None))


def start() -> list[bytes]:
    """The relations and a first transaction: its commit registers their schemas (rows of a
    table whose schema is not registered yet take the Python path)."""
    return encode(ITEMS, FULL) + tx(1, ins(1000))


def native_rows(pipeline: Pipeline) -> int:
    """How many rows of the last transaction were held as native records."""
    return sum(1 for i in pipeline.transactions[-1].items() if isinstance(i, NativeRow))


def test_inserts_and_updates_are_native_with_the_same_records_and_headers() -> None:
    payloads = start() + tx(5, ins(1), ins(2), upd(1), upd(2, "v"))
    payloads += tx(6, upd(1, "w"), ins(3))
    python, native = run(payloads)
    assert native_rows(native) == 2 and native_rows(python) == 0
    (_topic, fields) = native.producer.records[-1]
    headers = dict(fields)["headers"]
    assert dict(headers) == {
        "op": b"c", "position": str(Lsn(6000)).encode(), "position_kind": b"pg_lsn",
        "tx_id": b"6", "commit_ts_us": str(946_684_800_000_000 + 6_000_000).encode(),
    }  # fmt: skip


def test_mixed_transaction_keeps_change_order() -> None:
    """Key changes (a tombstone of the old key first), deletes and truncates between native
    rows, in change order."""
    payloads = start() + tx(
        7,
        ins(1),
        upd(2, "moved", old=key_only(1)),
        ins(3),
        Delete(None, ITEMS_OID, OldKind.KEY, key_only(3)),
        upd(2),
        Truncate(None, False, False, (ITEMS_OID, FULL_OID)),
        ins(4),
        Insert(None, FULL_OID, TupleData(("1", "body", "tag"))),
        Update(None, FULL_OID, OldKind.FULL, TupleData(("1", "body", "tag")),
               TupleData(("1", UNCHANGED_TOAST, "tag2"))),
        upd(4),
    )  # fmt: skip
    _python, native = run(payloads)
    assert native_rows(native) == 6  # all inserts, and the updates without an old tuple
    ops = [dict(f)["headers"][0][1] for _t, f in native.producer.records[1:]]  # after tx 1
    assert ops[:5] == [b"c", b"d", b"u", b"c", b"d"]


def full(i: int, body: ColumnValue, tag: str, old: tuple[ColumnValue, ...]) -> Update:
    return Update(None, FULL_OID, OldKind.FULL, TupleData(old), TupleData((str(i), body, tag)))


def test_updates_with_a_full_old_image() -> None:
    """REPLICA IDENTITY FULL: native when the key stays; a key change (tombstone first), an
    unchanged TOAST value (filled from the old image) or a float key take the Python path."""
    doc = Insert(None, FULL_OID, TupleData(("1", "body", "a")))
    payloads = start() + tx(
        30,
        doc,
        full(1, "body", "b", ("1", "body", "a")),
        full(1, None, "c", ("1", "body", "b")),
        full(2, "body", "d", ("1", None, "c")),
        full(2, UNCHANGED_TOAST, "e", ("2", "body", "d")),
        full(2, "x", "f", ("2", UNCHANGED_TOAST, "e")),
        full(2, "y", "g", ("2", "x", "f")),
    )
    _python, native = run(payloads)
    assert native_rows(native) == 4  # the insert and the three updates that keep the key
    floats = Relation(
        None, FULL_OID, "public", "docs", ReplicaIdentity.FULL,
        (column("id", 701, key=True), column("body", 25), column("tag", 25)),
    )  # fmt: skip
    zero = Update(None, FULL_OID, OldKind.FULL, TupleData(("-0", "b", "t")),
                  TupleData(("0", "b", "t")))  # fmt: skip
    payloads = encode(floats) + tx(31, doc) + tx(32, zero, full(1, "b", "u", ("1", "b", "t")))
    _python, native = run(payloads)
    assert native_rows(native) == 0


def test_unchanged_toast_without_a_full_image_stops_both_paths() -> None:
    toast = Update(None, ITEMS_OID, None, None, TupleData(("1", UNCHANGED_TOAST, "1.00", None,
                                                             "t", "1")))  # fmt: skip
    same_outcome(start() + tx(8, ins(1), toast, ins(2)))


def test_declined_values_take_the_python_path() -> None:
    """Values the encoder does not parse (infinity, binary data), and a wrong column count."""
    binary = Insert(None, ITEMS_OID, TupleData((b"\x00\x00\x00\x00\x00\x00\x00\x01", "n", None,
                                                 None, None, None)))  # fmt: skip
    payloads = start() + tx(9, ins(1, created="infinity"), ins(2), ins(3, created=None))
    _python, native = run(payloads)
    assert native_rows(native) == 2
    same_outcome(start() + tx(10, ins(1), binary))
    short = Insert(None, ITEMS_OID, TupleData(("1", "n")))
    same_outcome(start() + tx(11, ins(1), short))


def test_schema_change_inside_a_transaction() -> None:
    """Rows encoded before a Relation message of their table are written with the schema the
    Python path uses at the commit (the new one): decoded again, not published as encoded."""
    wider = Insert(None, ITEMS_OID, TupleData((*item(9).values, "42")))
    null_x = Insert(None, ITEMS_OID, TupleData((*item(5).values, None)))
    payloads = start() + tx(12, ins(1)) + tx(13, ins(2), upd(1), ITEMS_WIDER, wider, null_x)
    payloads += tx(14, wider, null_x)
    same_outcome(payloads)
    _python, native = run(payloads)
    assert native_rows(native) == 2  # the new shape is native again after its commit


def test_excluded_columns_and_key_override() -> None:
    items = TableId("public", "items")
    keys = {items: ("name",), TableId("public", "docs"): ("id",)}
    excluded = {items: ("created",)}
    payloads = start() + tx(15, ins(1), ins(2), upd(1, "same"))
    payloads += tx(16, upd(2, "x"), ins(3))
    _python, native = run(payloads, keys=keys, excluded=excluded)
    assert native_rows(native) == 2


def test_tables_not_captured_are_dropped() -> None:
    other = Insert(None, OTHER_OID, TupleData(("1",)))
    payloads = start() + encode(OTHER) + tx(17, other, ins(1), other)
    _python, native = run(payloads)
    assert native_rows(native) == 1
    assert [topic for topic, _ in native.producer.records] == ["p.public.items"] * 2


def test_spilled_transactions() -> None:
    changes: list[PgOutputMessage] = []
    for i in range(40):
        changes += [ins(i), upd(i, "s")] if i % 5 else [upd(i + 1, "k", old=key_only(i))]
    payloads = start() + tx(18, ins(999)) + tx(19, *changes)
    _python, native = run(payloads, max_in_memory=7)
    assert native_rows(native) > 50


def test_streamed_transactions_take_the_python_path() -> None:
    def streamed(m: Insert | Update) -> Insert | Update:
        if isinstance(m, Insert):
            return Insert(20, m.relation_oid, m.new)
        return Update(20, m.relation_oid, m.old_kind, m.old, m.new)

    payloads = start() + tx(19, ins(1))
    payloads += encode(StreamStart(20, True), streamed(ins(2)), streamed(upd(1)), StreamStop())
    payloads += tx(21, ins(3), upd(3))
    payloads += encode(StreamCommit(20, 0, Lsn(30_000), Lsn(30_001), PgTimestamp(5)))
    _python, native = run(payloads)
    assert native_rows(native) == 0


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_malformed_row_messages_fail_like_the_python_path(data: st.DataObject) -> None:
    """Truncated, extended or corrupted Insert/Update messages: the same records or the same
    error either way (the native path declines; the Python decoder explains)."""
    messages: list[PgOutputMessage] = [
        ins(1), upd(2), ins(3, created=None), full(1, "b", "t", ("1", None, "s")),
    ]  # fmt: skip
    message = encode_message(data.draw(st.sampled_from(messages)))
    cut = data.draw(st.integers(0, len(message)))
    mutated = bytearray(message[:cut] + data.draw(st.binary(max_size=8)))
    for _ in range(data.draw(st.integers(0, 3))):
        if mutated:
            mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    if not mutated or bytes(mutated[:1]) not in (b"I", b"U"):
        mutated[:1] = b"I"
    same_outcome(start() + tx(22, ins(7)) + tx(23, bytes(mutated), ins(8)))
    if mutated[:1] == b"U":  # the same bytes as an update of the FULL identity table
        mutated[1:5] = struct.pack("!I", FULL_OID)
        same_outcome(start() + tx(24, bytes(mutated)))


def test_encode_tuple_reads_only_its_bytes() -> None:
    """Bounds: a tuple that runs past the message, lengths beyond it, offsets past the end."""
    pipeline = Pipeline(True)
    pipeline.feed(encode(ITEMS)[0])
    pipeline.register(ITEMS)
    relations = pipeline.assembler.cache.relations
    native = pipeline.native
    assert native is not None
    message = encode_message(ins(1))
    row = native.row(message, relations)
    assert row is not None
    encoder = native._plan(ITEMS_OID, ITEMS).encode
    assert encoder is not None
    assert encoder(message, 6) == (row.key, row.value)
    for offset in (0, 5, 7, len(message), len(message) + 100, 2**40):
        assert encoder(message, offset) is None
    with pytest.raises(ValueError):
        encoder(message, -1)
    huge = message[:6] + struct.pack("!h", 6) + b"t" + struct.pack("!I", 0xFFFFFFF0) + b"1"
    assert encoder(huge, 6) is None
    assert encoder(cast(bytes, bytearray(message)), 6) == (row.key, row.value)
    with pytest.raises(TypeError):
        encoder("text", 6)  # type: ignore[arg-type]
