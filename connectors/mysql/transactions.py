"""Assembling binlog events into committed transactions: their row events, each with the codec
of its table version, made into ``ChangeEvent``s only on demand (``Transaction.events``; the
connector's hot path encodes most row events natively instead, see ``native_stream``).

The binlog holds only committed transactions, each in one piece, in commit order: a GTID event,
the TABLE_MAP and row events, then an XID event (InnoDB) or a ``COMMIT`` query (engines without
transactions). DDL is a transaction of its own: a GTID (MariaDB flags it "standalone"; MySQL
omits the ``BEGIN`` query) followed by the one statement. Servers without GTIDs start a
transaction with a ``BEGIN`` query instead.

Every event of a transaction carries the position *after* the transaction: the GTID state with
this transaction's GTID applied, and the file:pos after its last event. That is the position to
store once every event of the transaction is safe in Kafka.

Rows are decoded with the columns of the TABLE_MAP written just before them, so a row logged
before an ALTER TABLE keeps the columns it was written with; ``Transaction.schemas`` names the
table version each table's events were decoded with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from strangler.connectors.mysql.binlog import BinlogEvent, Gtid, Query, Rows, TableMap, Xid
from strangler.connectors.mysql.ddl import Ddl, DdlKind, parse_ddl
from strangler.connectors.mysql.positions import (
    BinlogPosition,
    FilePosition,
    Gtids,
    MariadbGtid,
    MariadbGtidPos,
    MysqlGtidSet,
)
from strangler.connectors.mysql.rows import RowPair, TableCodec, table_codec
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.schema import TableSchema

TableFilter = Callable[[TableId], bool]
_ROW_EVENT_BYTES = 512
"""A row event's weight beyond its row images (the library's event, our ``Rows``)."""


def _everything(table: TableId) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Transaction:
    gtid: str | None
    position: BinlogPosition
    """Where streaming resumes after this transaction; every event carries it."""
    commit_ts_us: int
    rows: tuple[tuple[TableCodec, Rows], ...]
    """The row events of included tables, in order, each with the codec of its table version:
    decoded only when published (``events``, or natively encoded), so a transaction of a
    million rows holds its row images, not a million row dicts."""
    schemas: Mapping[TableId, TableSchema]
    """The table version each table's events were decoded with."""
    ddl: tuple[Ddl, ...] = ()
    """Table DDL statements of the transaction (one, for a DDL transaction)."""
    truncates: tuple[TableId, ...] = ()
    """Included tables the transaction truncated (after its rows)."""
    weight: int = 1
    """About how many bytes its rows take queued (the reader's queue is bounded by it)."""

    @property
    def events(self) -> tuple[ChangeEvent, ...]:
        """Every row change, then the truncates, as ``ChangeEvent``s (decoded on each call)."""
        events: list[ChangeEvent] = []
        for codec, rows in self.rows:
            events.extend(row_events(codec, rows, self.position, self.commit_ts_us, self.gtid))
        events.extend(self.truncate_events())
        return tuple(events)

    def truncate_events(self) -> list[ChangeEvent]:
        ts_us, position, gtid = self.commit_ts_us, self.position, self.gtid
        return [
            ChangeEvent(t, Op.TRUNCATE, None, None, None, position, ts_us, gtid)
            for t in self.truncates
        ]


@dataclass(slots=True)
class _Open:
    gtid: str | None
    standalone: bool | None
    """True: ends with its first statement; False: ends at XID/COMMIT; None: not known yet
    (MySQL: a BEGIN query makes it False, any other statement is a DDL transaction)."""
    rows: list[tuple[TableCodec, Rows]] = field(default_factory=list)
    ddl: list[Ddl] = field(default_factory=list)


class TransactionAssembler:
    """Feed events with the file position after each; get a ``Transaction`` at each commit.

    ``gtids``: the GTID state the stream started from (the stored position's), advanced by
    every transaction. ``include`` selects the tables whose rows become events."""

    def __init__(self, gtids: Gtids | None = None, include: TableFilter = _everything) -> None:
        self.gtids = gtids
        self._include = include
        self._codecs: dict[TableMap, TableCodec] = {}
        self._open: _Open | None = None

    def codec(self, table_map: TableMap) -> TableCodec:
        codec = self._codecs.get(table_map)
        if codec is None:
            codec = table_codec(table_map.table, table_map.columns, table_map.key, table_map.wire)
            self._codecs[table_map] = codec
        return codec

    def feed(self, event: BinlogEvent, after: FilePosition) -> Transaction | None:
        if isinstance(event, Gtid):
            self._open = _Open(event.gtid, True if event.standalone else None)
        elif isinstance(event, Rows):
            self._rows(event)
        elif isinstance(event, Xid):
            return self._commit(after, event.timestamp)
        elif isinstance(event, Query):
            return self._query(event, after)
        return None

    def _rows(self, event: Rows) -> None:
        if not self._include(event.table_map.table):
            return
        if self._open is None:  # started mid-transaction: the server never does this
            self._open = _Open(None, False)
        self._open.standalone = False
        self._open.rows.append((self.codec(event.table_map), event))

    def _query(self, event: Query, after: FilePosition) -> Transaction | None:
        statement = event.query.strip().rstrip(";").strip().upper()
        if statement in ("BEGIN", "XA START"):
            self._open = self._open or _Open(None, False)
            self._open.standalone = False
            return None
        if statement in ("COMMIT", "ROLLBACK") or statement.startswith("XA COMMIT"):
            # a ROLLBACK is only logged when non-transactional tables changed anyway
            return self._commit(after, event.timestamp)
        return self._statement(event, after)

    def _statement(self, event: Query, after: FilePosition) -> Transaction | None:
        if self._open is None:
            self._open = _Open(None, True)
        ddl = parse_ddl(event.query, event.schema)
        if ddl is not None:
            self._open.ddl.append(ddl)
        if self._open.standalone is False:
            return None
        return self._commit(after, event.timestamp)

    def _commit(self, after: FilePosition, timestamp: int) -> Transaction | None:
        open_tx, self._open = self._open, None
        if open_tx is None:
            return None
        self._advance(open_tx.gtid)
        position = BinlogPosition(self.gtids, after)
        schemas = {codec.schema.table: codec.schema for codec, _ in open_tx.rows}
        truncates = tuple(
            t for ddl in open_tx.ddl if ddl.kind is DdlKind.TRUNCATE for t in ddl.tables
            if self._include(t)
        )  # fmt: skip
        weight = sum(_ROW_EVENT_BYTES + len(rows.image or b"") for _, rows in open_tx.rows) + 1
        return Transaction(
            open_tx.gtid, position, timestamp * 1_000_000, tuple(open_tx.rows), schemas,
            tuple(open_tx.ddl), truncates, weight,
        )  # fmt: skip

    def _advance(self, gtid: str | None) -> None:
        if gtid is None:
            return
        if ":" in gtid:
            sid, _, gno = gtid.rpartition(":")
            base = self.gtids if isinstance(self.gtids, MysqlGtidSet) else MysqlGtidSet()
            self.gtids = base.add(sid, int(gno))
        else:
            state = self.gtids if isinstance(self.gtids, MariadbGtidPos) else MariadbGtidPos()
            self.gtids = state.advance(MariadbGtid.parse(gtid))


def decode_rows(codec: TableCodec, rows: Rows) -> list[RowPair]:
    """A row event's (before, after) rows: natively decoded from its row images where the
    codec can, otherwise python-mysql-replication's rows converted by ``from_binlog``.

    Where the C code raises (a value it cannot decode), the event goes through the Python path
    again, which raises its own error for it (naming the column where a converter failed)."""
    if rows.image is not None:
        try:
            native = codec.from_image(rows.op, rows.image)
        except Exception:  # noqa: BLE001 - not swallowed: the Python path raises it again
            native = None
        if native is not None:
            return native
    return [
        (
            codec.from_binlog(raw_before) if raw_before is not None else None,
            codec.from_binlog(raw_after) if raw_after is not None else None,
        )
        for raw_before, raw_after in rows.parse()
    ]


def row_events(
    codec: TableCodec, rows: Rows, position: BinlogPosition, ts_us: int, tx_id: str | None
) -> list[ChangeEvent]:
    """The ``ChangeEvent``s of one row event (the Python path)."""
    out = []
    for before, after in decode_rows(codec, rows):
        key = codec.key_of(after if after is not None else before or {})
        event = ChangeEvent(codec.schema.table, rows.op, key, before, after, position, ts_us, tx_id)
        out.append(event)
    return out
