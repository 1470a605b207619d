"""Assembling decoded pgoutput messages into committed transactions of ``ChangeEvent``s.

pgoutput (protocol 1) sends a transaction only once it has committed, as Begin, its changes,
then Commit; protocol 2 may also send a large transaction while it runs, in Stream Start/Stop
blocks, and decide its fate later with Stream Commit or Stream Abort. Either way a
``Transaction`` is produced only at commit, so transactions come out in commit order and every
event carries the commit's end LSN as its position: the position to confirm once the whole
transaction is safe downstream.

Changes are held until their commit in a ``SpillBuffer``: the first ``max_in_memory`` changes
of a transaction in memory, the rest in a temporary file, so memory stays bounded however large
the transaction. ``Transaction.events()`` then produces the events lazily, one at a time.

Unchanged TOAST: an UPDATE that did not touch a large (TOASTed) column does not send it. If the
old image is the full row (REPLICA IDENTITY FULL) the value is taken from there; otherwise the
column keeps the ``UNCHANGED_TOAST`` sentinel in ``after``, so no placeholder can be mistaken for
data: whoever publishes the row must resolve or reject it (``unchanged_columns``).

With ``native`` rows (``native_stream``), the inserts and plain updates the C encoder handles are
held as their records instead (``feed_row``), in order with the other changes;
``Transaction.items()`` gives them as they are, ``Transaction.events()`` as events.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from strangler.connectors.postgres.errors import DecodeError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    DataType,
    Delete,
    Insert,
    LogicalMessage,
    OldKind,
    Origin,
    PgOutputMessage,
    PgTimestamp,
    Relation,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)
from strangler.connectors.postgres.native_stream import NativeRow, NativeRows
from strangler.connectors.postgres.pgoutput import decode_message
from strangler.connectors.postgres.pgoutput_encoder import encode_message
from strangler.connectors.postgres.pgtime import to_unix_us
from strangler.connectors.postgres.relations import RelationCache, table_id
from strangler.connectors.postgres.spill import SpillBuffer
from strangler.connectors.publisher import EncodedChange
from strangler.core.events import ChangeEvent, Op, Row, TableId
from strangler.core.schema import TableSchema

RowConverter = Callable[[Relation, TupleData], dict[str, Any]]
"""Turns a tuple into a row (column name → value). Must pass ``UNCHANGED_TOAST`` through."""


def text_row(relation: Relation, data: TupleData) -> dict[str, Any]:
    """The default converter: values as pgoutput sent them (text form, bytes, None, sentinel)."""
    return {col.name: value for col, value in zip(relation.columns, data.values, strict=True)}


def unchanged_columns(row: Row | None) -> list[str]:
    """Names of the columns whose value is the ``UNCHANGED_TOAST`` sentinel."""
    return [name for name, value in (row or {}).items() if value is UNCHANGED_TOAST]


@dataclass(frozen=True, slots=True)
class Transaction:
    xid: int
    commit_lsn: Lsn
    end_lsn: Lsn
    """Position of every event, and the LSN to confirm once they are all delivered."""
    commit_ts_us: int
    """Commit time, microseconds since the Unix epoch."""
    origin: str | None
    changes: int
    """Number of row changes and truncates received (a truncate of n tables gives n events)."""
    _events: Callable[[], Iterator[ChangeEvent]] = field(repr=False, compare=False)
    _items: Callable[[], Iterator[ChangeEvent | EncodedChange]] | None = field(
        default=None, repr=False, compare=False
    )

    def events(self) -> Iterator[ChangeEvent]:
        """The transaction's events in order, built lazily (may be called again)."""
        return self._events()

    def items(self) -> Iterator[ChangeEvent | EncodedChange]:
        """``events()``, but the rows encoded at arrival (for the table's current schema) as
        their records (``EncodedChange``); what the publisher takes."""
        return self._events() if self._items is None else self._items()


_Change = Insert | Update | Delete | Truncate


@dataclass(slots=True)
class _Pending:
    """A change, with the relation definition in force when it arrived."""

    change: _Change
    relations: tuple[Relation, ...]
    subxid: int | None = None


class _SpillCodec:
    """Writes a change to disk compactly: its pgoutput bytes plus indexes into the (few)
    relation definitions of the transaction, which stay in memory. Much faster to read back
    than pickled dataclasses, and the Relation is not repeated with every change."""

    def __init__(self) -> None:
        self._relations: list[Relation] = []
        self._index: dict[int, int] = {}  # id(Relation) -> position; the list keeps them alive
        self._schemas: list[TableSchema] = []
        self._schema_index: dict[int, int] = {}

    def dump(self, pending: _Pending | NativeRow) -> bytes:
        if isinstance(pending, NativeRow):  # its message as received, and its records
            schema = _index_in(self._schemas, self._schema_index, pending.schema)
            native = (pending.key, pending.value, schema, pending.version)
            relation = (self._index_of(pending.relation),)
            record: tuple[Any, ...] = (pending.payload, False, relation, None, native)
        else:
            change = pending.change
            indexes = tuple(self._index_of(r) for r in pending.relations)
            record = (encode_message(change), change.xid is not None, indexes, pending.subxid)
        return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, data: bytes) -> _Pending | NativeRow:
        encoded, in_stream, indexes, subxid, *native = pickle.loads(data)
        if native:
            return self._native_row(encoded, self._relations[indexes[0]], *native[0])
        change = decode_message(encoded, in_stream=in_stream)
        if not isinstance(change, Insert | Update | Delete | Truncate):
            raise DecodeError(type(change).__name__, 0, "spilled record is not a row change")
        relations = tuple(self._relations[i] for i in indexes)
        return _Pending(change, relations, subxid)

    def _index_of(self, relation: Relation) -> int:
        return _index_in(self._relations, self._index, relation)

    def _native_row(
        self, payload: bytes, relation: Relation, key: bytes, value: bytes, schema: int,
        version: int,
    ) -> NativeRow:  # fmt: skip
        op = Op.CREATE if payload[:1] == b"I" else Op.UPDATE
        table = table_id(relation)
        return NativeRow(table, op, key, value, self._schemas[schema], payload, relation, version)


def _index_in(items: list[Any], index: dict[int, int], item: object) -> int:
    """Where ``item`` is in ``items`` (by identity), appended if it is not there yet."""
    at = index.get(id(item))
    if at is None:
        at = index[id(item)] = len(items)
        items.append(item)
    return at


@dataclass(slots=True)
class _Open:
    xid: int
    changes: SpillBuffer[_Pending | NativeRow]
    origin: str | None = None
    aborted: set[int] = field(default_factory=set)
    """Subtransactions rolled back (protocol 2): their changes are skipped. Native rows are
    never of a streamed transaction, so never of an aborted subtransaction."""

    def pending(self) -> Iterator[_Pending | NativeRow]:
        if not self.aborted:
            return iter(self.changes)
        return (p for p in self.changes if isinstance(p, NativeRow) or p.subxid not in self.aborted)


class TransactionAssembler:
    """Feed messages in stream order; get a ``Transaction`` back at each commit.

    ``key_columns`` overrides the key of a table (otherwise: the replica identity columns that
    the Relation message flags as key). ``convert`` turns tuples into rows.
    ``max_in_memory``: changes per transaction held in memory before spilling to disk.
    ``native``: encodes the rows it can at arrival (``feed_row``).
    """

    def __init__(
        self,
        *,
        key_columns: Mapping[TableId, Sequence[str]] | None = None,
        convert: RowConverter = text_row,
        cache: RelationCache | None = None,
        max_in_memory: int = 10_000,
        native: NativeRows | None = None,
    ) -> None:
        self._native = native
        self._max_in_memory = max_in_memory
        self.cache = cache or RelationCache()
        self._key_columns = dict(key_columns or {})
        self._convert = convert
        self._current: _Open | None = None
        self._streamed: dict[int, _Open] = {}
        self._stream_xid: int | None = None

    def feed(self, message: PgOutputMessage) -> Transaction | None:
        handler = _HANDLERS[type(message)]
        return handler(self, message)

    def feed_row(self, payload: bytes) -> bool:
        """Take an Insert or Update message (``payload``) as its records, if ``native`` encodes
        it; False: decode it and ``feed`` it as usual (anything else, or a declined row)."""
        current = self._current
        if self._native is None or current is None or self._stream_xid is not None:
            return False
        row = self._native.row(payload, self.cache.relations)
        if row is None:
            return False
        current.changes.append(row)
        return True

    # ---- transaction boundaries -----------------------------------------------------------

    def _open(self, xid: int) -> _Open:
        codec = _SpillCodec()
        return _Open(xid, SpillBuffer(self._max_in_memory, codec.dump, codec.load))

    def _begin(self, message: Begin) -> None:
        self._current = self._open(message.xid)

    def _commit(self, message: Commit) -> Transaction:
        open_tx = self._require_open("C")
        self._current = None
        return self._finish(open_tx, message.commit_lsn, message.end_lsn, message.commit_time)

    def _origin(self, message: Origin) -> None:
        self._require_open("O").origin = message.name

    def _stream_start(self, message: StreamStart) -> None:
        self._stream_xid = message.xid
        if message.xid not in self._streamed:
            self._streamed[message.xid] = self._open(message.xid)

    def _stream_stop(self, message: StreamStop) -> None:
        self._stream_xid = None

    def _stream_commit(self, message: StreamCommit) -> Transaction:
        open_tx = self._streamed.pop(message.xid, None) or self._open(message.xid)
        return self._finish(open_tx, message.commit_lsn, message.end_lsn, message.commit_time)

    def _stream_abort(self, message: StreamAbort) -> None:
        # A top-level abort names the same xid twice; a subtransaction abort drops only the
        # changes made in that subtransaction (streamed changes carry the subtransaction's xid).
        if message.subxid == message.xid:
            dropped = self._streamed.pop(message.xid, None)
            if dropped is not None:
                dropped.changes.close()
            return
        open_tx = self._streamed.get(message.xid)
        if open_tx is not None:
            open_tx.aborted.add(message.subxid)

    # ---- catalogue and changes -----------------------------------------------------------

    def _relation(self, message: Relation) -> None:
        self.cache.add_relation(message)

    def _type(self, message: DataType) -> None:
        self.cache.add_type(message)

    def _ignore(self, message: LogicalMessage) -> None:
        """Logical decoding messages carry application data, not row changes."""

    def _change(self, message: _Change) -> None:
        if isinstance(message, Truncate):
            relations = tuple(self.cache.get(oid) for oid in message.relation_oids)
        else:  # one relation: no generator per change (this runs for every streamed row)
            relations = (self.cache.get(message.relation_oid),)
        pending = _Pending(message, relations, message.xid)
        self._target(message).changes.append(pending)

    def _target(self, message: _Change) -> _Open:
        if self._stream_xid is not None:
            return self._streamed[self._stream_xid]
        return self._require_open(type(message).__name__[0])

    def _require_open(self, kind: str) -> _Open:
        if self._current is None:
            raise DecodeError(kind, 0, "message outside a transaction (no Begin before it)")
        return self._current

    # ---- events -----------------------------------------------------------------------------

    def _finish(
        self, open_tx: _Open, commit_lsn: Lsn, end_lsn: Lsn, commit_time: PgTimestamp
    ) -> Transaction:
        ts_us = to_unix_us(commit_time)
        build = _EventBuilder(self, end_lsn, ts_us, str(open_tx.xid))

        def events() -> Iterator[ChangeEvent]:
            return (e for p in open_tx.pending() for e in build.events(p))

        def items() -> Iterator[ChangeEvent | EncodedChange]:
            native = self._native
            for pending in open_tx.pending():
                if (
                    isinstance(pending, NativeRow)
                    and native is not None
                    and native.current(pending)
                ):
                    yield pending
                else:
                    yield from build.events(pending)

        count = sum(1 for _ in open_tx.pending()) if open_tx.aborted else len(open_tx.changes)
        return Transaction(
            open_tx.xid, commit_lsn, end_lsn, ts_us, open_tx.origin, count, events, items
        )

    def key_of(self, relation: Relation, row: Row) -> dict[str, Any] | None:
        """The key columns' values of ``row``; None for a table without key columns."""
        names = self._key_columns.get(table_id(relation))
        if names is None:
            names = [c.name for c in relation.columns if c.is_key]
        return {name: row[name] for name in names} if names else None

    def convert(self, relation: Relation, data: TupleData) -> dict[str, Any]:
        return self._convert(relation, data)


@dataclass(frozen=True, slots=True)
class _EventBuilder:
    assembler: TransactionAssembler
    position: Lsn
    commit_ts_us: int
    tx_id: str

    def events(self, pending: _Pending | NativeRow) -> list[ChangeEvent]:
        if isinstance(pending, NativeRow):  # decoded now, as if it had taken the Python path
            message = decode_message(pending.payload)
            assert isinstance(message, Insert | Update)  # it was an Insert or Update message
            pending = _Pending(message, (pending.relation,))
        change = pending.change
        if isinstance(change, Truncate):
            return [self._event(r, Op.TRUNCATE, None, None, None) for r in pending.relations]
        relation = pending.relations[0]
        if isinstance(change, Insert):
            after = self.assembler.convert(relation, change.new)
            return [self._event(relation, Op.CREATE, self._key(relation, after), None, after)]
        if isinstance(change, Update):
            return [self._update(relation, change)]
        before = self._old_row(relation, change.old_kind, change.old)
        return [self._event(relation, Op.DELETE, self._key(relation, before), before, None)]

    def _update(self, relation: Relation, change: Update) -> ChangeEvent:
        new = _fill_unchanged(change.new, change.old if change.old_kind is OldKind.FULL else None)
        after = self.assembler.convert(relation, new)
        before = None
        if change.old_kind is not None and change.old is not None:
            before = self._old_row(relation, change.old_kind, change.old)
        return self._event(relation, Op.UPDATE, self._key(relation, after), before, after)

    def _old_row(self, relation: Relation, kind: OldKind, old: TupleData) -> dict[str, Any]:
        """A key-only old tuple ('K') has NULLs outside the key: keep only the key columns."""
        row = self.assembler.convert(relation, old)
        if kind is OldKind.FULL:
            return row
        return {c.name: row[c.name] for c in relation.columns if c.is_key}

    def _key(self, relation: Relation, row: Row) -> dict[str, Any] | None:
        return self.assembler.key_of(relation, row)

    def _event(
        self, relation: Relation, op: Op, key: Row | None, before: Row | None, after: Row | None
    ) -> ChangeEvent:
        table = table_id(relation)
        return ChangeEvent(
            table, op, key, before, after, self.position, self.commit_ts_us, self.tx_id
        )


def _fill_unchanged(new: TupleData, full_old: TupleData | None) -> TupleData:
    """Take unchanged TOAST values from a full old image, where there is one."""
    if full_old is None or UNCHANGED_TOAST not in new.values:
        return new
    merged = (
        old if value is UNCHANGED_TOAST and old is not UNCHANGED_TOAST else value
        for value, old in zip(new.values, full_old.values, strict=True)
    )
    return TupleData(tuple(merged))


_Handler = Callable[[TransactionAssembler, Any], Transaction | None]

_HANDLERS: dict[type, _Handler] = {
    Begin: TransactionAssembler._begin,
    Commit: TransactionAssembler._commit,
    Origin: TransactionAssembler._origin,
    Relation: TransactionAssembler._relation,
    DataType: TransactionAssembler._type,
    Insert: TransactionAssembler._change,
    Update: TransactionAssembler._change,
    Delete: TransactionAssembler._change,
    Truncate: TransactionAssembler._change,
    LogicalMessage: TransactionAssembler._ignore,
    StreamStart: TransactionAssembler._stream_start,
    StreamStop: TransactionAssembler._stream_stop,
    StreamCommit: TransactionAssembler._stream_commit,
    StreamAbort: TransactionAssembler._stream_abort,
}
