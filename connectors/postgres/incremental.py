"""Incremental snapshots: re-read one table while streaming goes on (DBLog's watermarks).

``strangler snapshot`` asks for one by writing a *signal* into the WAL, a logical decoding
message (``emit``; prefix ``strangler.snapshot.signal``, JSON naming the slot and the
table). The running connector sees it in its own stream; a stopped one sees it when it runs
again (the slot keeps the WAL), so a request is never lost. Accepted requests and their chunk
progress live in ``<state_dir>/<source>.incremental.json`` (what ``strangler status`` shows).

The connector's streaming loop then reads the table in key order, one chunk at a time, and
interleaves each chunk with its own stream so that a compacted topic still converges to the
table: a chunk row never lands after the event of a change it does not contain.

1. The *window* opens: from now on the loop notes the key of every change of the table that it
   publishes.
2. The chunk is read (``SELECT … WHERE key > last ORDER BY key LIMIT n`` in a snapshot S of its
   own, taken after the window opened).
3. A *high watermark* is written: a logical decoding message in a transaction of its own.
   Transactions arrive in commit order, and every transaction S saw had committed before S was
   taken, so before the watermark's transaction: it arrives before the watermark.
4. When the watermark's transaction arrives in the stream, the chunk rows whose keys changed
   in the window are dropped, and the others are published right there, carrying the
   watermark transaction's end LSN as their position. A change S did not see either arrived
   in the window (its key was dropped: the change's own event, published in the stream, is
   newer than the chunk's row) or arrives after the watermark (its event lands after the
   chunk's row). A change S saw and that arrived before the window is in the row already. So
   for every key, the last record in the topic is the newest state, and a view's per-key
   position guard (never back to an older position) accepts the row: the watermark's LSN is
   after every change the window did not drop.
   The one case the window cannot see is a transaction whose commit record was written before
   the window opened but which was not yet visible to S (PostgreSQL makes a commit visible just
   after writing its record); such a transaction was decoded, sent and published before the
   window opened, so its backend would have to stall for that whole round trip. S names it if it
   happens (running, or not below its xmax): the chunk is then read again (``_recent``).
5. The next chunk starts once Kafka acknowledged this one (then its progress is saved, so a
   restarted connector resumes after the last acknowledged chunk).

A TRUNCATE of the table inside a window drops the whole chunk (its rows were all older).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.exactly_once import KafkaTransactions
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import LogicalMessage
from strangler.connectors.postgres.metrics import ConnectorMetrics
from strangler.connectors.postgres.schemas import TableShapes
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.connectors.postgres.transactions import Transaction
from strangler.connectors.publisher import Publisher
from strangler.connectors.resnapshot import Request, Requests
from strangler.core.events import ChangeEvent, Op, TableId

log = logging.getLogger("strangler.connectors.postgres.incremental")

SIGNAL_PREFIX = "strangler.snapshot.signal"
WATERMARK_PREFIX = "strangler.snapshot.watermark"
_RECENT_XIDS = 4096


def request_snapshot(conn: psycopg.Connection[Any], slot: str, table: TableId) -> str:
    """Write the signal asking the connector of ``slot`` to re-snapshot ``table``; its id."""
    request_id = uuid.uuid4().hex[:16]
    body = {"slot": slot, "id": request_id, "table": [table.schema, table.name]}
    emit(conn, SIGNAL_PREFIX, body)
    return request_id


def emit(conn: psycopg.Connection[Any], prefix: str, body: dict[str, Any]) -> None:
    """A transactional logical decoding message, in a transaction of its own (autocommit).

    Transactional, because its commit flushes the WAL and walsenders only send flushed WAL:
    a non-transactional message waits for the WAL writer (wal_writer_delay, 200 ms by
    default), which was most of a re-snapshot's time with one such watermark per chunk."""
    conn.execute(
        "SELECT pg_catalog.pg_logical_emit_message(true, %s, %s)", (prefix, json.dumps(body))
    )


# ---- one chunk between the window's opening and its watermark ---------------------------------


def key_of(key: Mapping[str, Any] | None) -> str:
    """A key record as a hashable value (stream and chunk rows are decoded alike)."""
    return repr(sorted((key or {}).items()))


@dataclass(slots=True)
class Window:
    """The chunk of one request, and the keys of its table the stream changed meanwhile."""

    request: Request
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    events: list[ChangeEvent] = field(default_factory=list)
    last: list[str | None] | None = None
    full: bool = False
    """The chunk had chunk_rows rows: more may follow."""
    touched: set[str] = field(default_factory=set)
    truncated: bool = False
    closing: bool = False
    """The watermark arrived; its transaction's commit closes the window."""
    kept: int = 0
    """Rows published at the watermark."""

    def note(self, events: Iterable[ChangeEvent]) -> None:
        """Changes the stream published while the window was open."""
        for event in events:
            if event.table != self.request.table:
                continue
            if event.op is Op.TRUNCATE:
                self.truncated = True
            else:
                self.touched.add(key_of(event.key))

    def rows(self, position: Lsn) -> list[ChangeEvent]:
        """The chunk rows the window did not touch, at the watermark's position."""
        if self.truncated:
            return []
        kept = [e for e in self.events if key_of(e.key) not in self.touched]
        return [replace(e, position=position) for e in kept]


# ---- the coordinator inside the streaming loop ------------------------------------------------


class IncrementalSnapshots:
    """Runs requested re-snapshots inside one streaming session (see the module docstring)."""

    def __init__(
        self,
        source: PostgresSource,
        conn: psycopg.Connection[Any],
        shapes: TableShapes,
        publisher: Publisher,
        acknowledged: Callable[[], Lsn | None],
        metrics: ConnectorMetrics,
        transactions: KafkaTransactions | None = None,
    ) -> None:
        self._source = source
        self._conn = conn
        self._shapes = shapes
        self._publisher = publisher
        self._acknowledged = acknowledged
        self._metrics = metrics
        self._transactions = transactions
        self._requests = Requests(source)
        self._reader_conn: psycopg.Connection[Any] | None = None
        self._window: Window | None = None
        self._published: tuple[Lsn, Window] | None = None
        """The last chunk handed to Kafka, until it is acknowledged."""
        self._recent: deque[int] = deque(maxlen=_RECENT_XIDS)
        """Transaction ids published before the current window opened (see step 4)."""

    # the loop calls these, in stream order

    def on_transaction(self, transaction: Transaction) -> None:
        if self._window is None:
            self._recent.append(transaction.xid)
        elif self._window.closing:  # the watermark's own transaction (nothing interleaves)
            self._close_window(transaction.end_lsn)
        else:
            self._window.note(self._shapes.project(transaction.events()))

    def on_messages(self, messages: list[LogicalMessage]) -> None:
        for message in messages:
            body = _body(message)
            if body.get("slot") != self._source.slot:
                continue  # another slot's: every slot of the database decodes every message
            if message.prefix == SIGNAL_PREFIX:
                self._accept(body)
            elif message.prefix == WATERMARK_PREFIX and self._window is not None:
                self._window.closing = self._window.closing or body.get("id") == self._window.id

    def tick(self) -> None:
        """Start the next chunk when nothing is in flight."""
        if self._window is not None or not self._chunk_acknowledged():
            return
        request = self._requests.current()
        if request is not None:
            self._open_window(request)

    def close(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()

    # requests

    def _accept(self, body: dict[str, Any]) -> None:
        names = body.get("table")
        if not isinstance(names, list) or len(names) != 2 or "id" not in body:
            log.warning("ignored a malformed snapshot signal: %s", body)
            return
        table = TableId(str(names[0]), str(names[1]))
        self._requests.accept(str(body["id"]), table, self._shapes.tables)

    def _chunk_acknowledged(self) -> bool:
        if self._published is None:
            return True
        position, window = self._published
        acked = self._acknowledged()
        if acked is None or acked < position:
            return False
        self._published = None
        self._record(window)
        return True

    def _record(self, window: Window) -> None:
        request = window.request
        request.chunks += 1
        request.rows += window.kept
        request.dropped += len(window.events) - window.kept
        request.after = window.last if window.last is not None else request.after
        if not window.full:
            request.state, request.finished = "done", time.time()
            log.info(
                "incremental snapshot of %s done: %d rows in %d chunks (%d left to the stream)",
                request.table, request.rows, request.chunks, request.dropped,
            )  # fmt: skip
        self._requests.save()

    # one chunk

    def _open_window(self, request: Request) -> None:
        window = Window(request)
        self._window = window  # from here on the loop notes the table's changes
        request.state = "running"
        try:
            invisible = self._read_chunk(window)
        except psycopg.Error as exc:  # the table went away, a permission, ...: this request
            self._window = None  # fails, and says why; streaming goes on
            request.fail(f"reading {request.table} failed: {exc}".strip())
            log.error("incremental snapshot %s: %s", request.id, request.reason)
            self._requests.save()
            return
        if any(invisible(xid) for xid in self._recent):
            log.info("a transaction published before the window was not visible to its chunk "
                     "read; reading the chunk again")  # fmt: skip
            self._window = None
            return
        emit(self._conn, WATERMARK_PREFIX, {"slot": self._source.slot, "id": window.id})

    def _read_chunk(self, window: Window) -> Callable[[int], bool]:
        """Read the chunk into ``window``; whether a committed transaction id was invisible to
        the chunk's snapshot."""
        request = window.request
        key = self._shapes.key_columns()[request.table]
        rows = self._source.snapshot.chunk_rows
        with SnapshotReader(self._reader(), None, Lsn(0), chunk_rows=rows) as reader:
            relation = reader.describe(request.table, key)
            if request.table not in self._shapes.schemas:
                self._shapes.update(self._reader(), relation)
            after = None if request.after is None else tuple(request.after)
            events, last = next(reader.chunks(relation, after), ([], None))
            invisible = _invisible(self._reader())
        window.events = events
        window.last = None if last is None else list(last)
        window.full = len(events) >= rows
        return invisible

    def _close_window(self, position: Lsn) -> None:
        assert self._window is not None
        window, self._window = self._window, None
        events = window.rows(position)
        if self._transactions is not None:
            self._transactions.begin()
        self._publisher.publish(self._shapes.project(events), self._shapes.schemas, position)
        if self._transactions is not None:
            self._transactions.record(position, len(events))
        self._metrics.snapshot_rows += len(events)
        window.kept = len(events)
        self._published = (position, window)

    def _reader(self) -> psycopg.Connection[Any]:
        if self._reader_conn is None or self._reader_conn.closed:
            from strangler.connectors.postgres.connector import connect

            self._reader_conn = connect(self._source.dsn.get_secret_value())
        return self._reader_conn


def _body(message: LogicalMessage) -> dict[str, Any]:
    """A signal's or watermark's JSON; anything else under our prefixes is not ours."""
    try:
        body = json.loads(message.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning("ignored a %s message that is not strangler's", message.prefix)
        return {}
    return body


def _invisible(conn: psycopg.Connection[Any]) -> Callable[[int], bool]:
    """For the current snapshot: whether a *committed* transaction id (32 bits, as pgoutput
    sends it) was invisible to it, i.e. running (``xip``) or not yet completed (``>= xmax``)."""
    row = conn.execute(
        "SELECT pg_catalog.pg_snapshot_xmax(s)::text::bigint % 4294967296, "
        "array(SELECT x::text::bigint % 4294967296 FROM pg_catalog.pg_snapshot_xip(s) x) "
        "FROM pg_catalog.pg_current_snapshot() s"
    ).fetchone()
    assert row is not None
    xmax, running = int(row[0]), set(row[1])

    def invisible(xid: int) -> bool:
        return xid in running or (xid - xmax) % (1 << 32) < (1 << 31)  # xid >= xmax, modulo

    return invisible
