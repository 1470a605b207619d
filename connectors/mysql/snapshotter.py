"""The snapshot source: whole tables as ``Op.READ`` events, chunk by chunk, resumable.

Each chunk is handed to Kafka as one unit whose "position" is a ``ChunkMark``; the ack tracker
says which chunks Kafka has fully acknowledged (in order), and only those are recorded in the
stored state. A crash mid-snapshot therefore resumes after the last acknowledged chunk.
Progress is logged per table (rows, rows/s, estimated total and ETA from the table statistics).

Chunks are read with a ``ChunkEncoder``: where the C encoder takes the table's columns, a chunk
comes as the Avro records themselves and goes to ``Publisher.publish_encoded``, with the same
headers and the same chunk mark as ``publish_reads`` gives converted rows (the Python path).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pymysql

from strangler.connectors.mysql.catalog import quote_table
from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.positions import FilePosition
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.snapshot import ChunkEncoder, Records, SnapshotReader
from strangler.connectors.mysql.state import KeyParams, SourceState
from strangler.connectors.publisher import Publisher
from strangler.connectors.snapshot_chunks import ChunkMark, SnapshotRate
from strangler.core.errors import ServiceUnavailable
from strangler.core.events import TableId
from strangler.core.schema import TableSchema

log = logging.getLogger("strangler.connectors.mysql.snapshot")

_SAVE_EVERY_S = 0.5
_DEFINITION_CHANGED = 1412


class SnapshotInterrupted(MysqlError):
    """DDL committed between the start of the snapshot's transaction and its metadata locks:
    that table cannot be read in this snapshot. A new snapshot resumes the pending tables."""

    retriable = True


class SnapshotSource:
    """Reads tables through ``reader`` and publishes them; ``save`` stores the state with the
    chunks Kafka acknowledged."""

    def __init__(
        self,
        reader: SnapshotReader,
        shapes: TableShapes,
        publisher: Publisher,
        state: SourceState,
        save: Callable[[SourceState], None],
        stop: threading.Event,
    ) -> None:
        self._reader = reader
        self._shapes = shapes
        self._publisher = publisher
        self._state = state
        self._save = save
        self._stop = stop
        self._seq = 0
        self._marks: deque[ChunkMark] = deque()
        self._saved = 0.0
        self._unsaved = False
        """Marks recorded in ``_state`` since it was last stored."""
        self.rows = 0

    def run(self, tables: Sequence[TableId]) -> bool:
        """Snapshot ``tables``; True if all completed, False if stopped before."""
        try:
            self._lock(tables)
            for table in tables:
                if self._stop.is_set():
                    break
                self._table(table)
            self._drain()
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == _DEFINITION_CHANGED:
                raise SnapshotInterrupted(
                    f"a table's definition changed as the snapshot started: {exc}",
                    fix="restart: the snapshot resumes after the last acknowledged chunk",
                ) from exc
            raise
        finally:
            self._checkpoint(force=True)
        return not self._state.pending(list(tables))

    def _lock(self, tables: Sequence[TableId]) -> None:
        """A shared metadata lock on every table for the snapshot's duration (a statement in
        the snapshot's transaction holds it until the transaction ends): DDL on a captured
        table waits until the snapshot ends, instead of failing its reads with "table
        definition has changed" (1412). Inserts, updates and deletes are not blocked."""
        with self._reader.conn.cursor() as cur:
            for table in tables:
                cur.execute(f"SELECT 1 FROM {quote_table(table)} LIMIT 0")
                cur.fetchall()

    def _table(self, table: TableId) -> None:
        codec = self._reader.describe(table, self._shapes.key_of(table))
        schema = self._shapes.publishable(codec.schema)
        assert self._reader.position is not None and self._reader.position.file is not None
        position = self._reader.position.file
        after = self._state.after(table)
        rate = SnapshotRate(table, _estimate(self._reader, table), log, started=time.monotonic())
        last = after
        publisher = self._publisher
        encoder = ChunkEncoder(codec, schema, publisher.serializer, publisher.topic_of(table))
        for chunk in self._reader.read(codec, after, encoder):
            last = chunk.last_key
            rows = chunk.rows if chunk.records is None else chunk.records
            self._publish(rows, schema, position, table, last, done=False)
            rate.rows += chunk.size
            self.rows += chunk.size
            rate.report()
            if self._stop.is_set():
                return
        self._publish([], schema, position, table, last, done=True)
        rate.report(final=True)

    def _publish(
        self,
        rows: list[dict[str, Any]] | Records,
        schema: TableSchema,
        position: FilePosition,
        table: TableId,
        after: KeyParams | None,
        done: bool,
    ) -> None:
        self._seq += 1
        mark = ChunkMark(self._seq, table, after, done)
        self._marks.append(mark)
        # the records of publish() for READ events of these rows (keyed by the published key,
        # excluded columns left out), without an event object per row; or those records
        # already encoded by the C code
        if isinstance(rows, Records):
            self._publisher.publish_encoded(table, rows, position, mark)
        else:
            self._publisher.publish_reads(table, schema, rows, position, mark)
        self._checkpoint()

    def _drain(self, timeout: float = 300.0) -> None:
        """Wait until Kafka acknowledged every chunk handed to it (a failed one raises)."""
        deadline = time.monotonic() + timeout
        while self._publisher.tracker.in_flight:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"Kafka acknowledged no snapshot chunk for {timeout:.0f} s",
                    fix="check the brokers; a restart resumes after the last acknowledged chunk",
                )
            self._publisher.flush(1.0)
            self._checkpoint()

    def _checkpoint(self, *, force: bool = False) -> None:
        """Record every mark up to the acknowledged one (the ones before it may end other
        tables), and store the state now and then."""
        acked = self._publisher.acknowledged()
        if isinstance(acked, ChunkMark):
            while self._marks and self._marks[0].seq <= acked.seq:
                mark = self._marks.popleft()
                self._state.mark(mark.table, mark.after, mark.done)
                self._unsaved = True
        now = time.monotonic()
        # as the PostgreSQL snapshotter: stored when there is news, at most every _SAVE_EVERY_S,
        # the first acknowledged chunk at once (a table may snapshot within one interval)
        if force or (self._unsaved and now - self._saved >= _SAVE_EVERY_S):
            self._save(self._state)
            self._saved = now
            self._unsaved = False


def _estimate(reader: SnapshotReader, table: TableId) -> int:
    """Rows of the table according to InnoDB's statistics (an estimate)."""
    with reader.conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (table.schema, table.name),
        )
        row = cur.fetchone()
        cur.fetchall()
    return int(row[0] or 0) if row else 0
