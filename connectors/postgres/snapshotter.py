"""The snapshot source: whole tables as ``Op.READ`` events, chunk by chunk, resumable.

Each chunk is handed to Kafka as one unit whose "position" is a ``ChunkMark``; the ack tracker
says which chunks Kafka has fully acknowledged (in order), and only those are written to the
progress file. A crash mid-snapshot therefore resumes after the last acknowledged chunk.

Progress is logged per table (rows, rows/s, estimated total and ETA from ``reltuples``).

Throughput: the next chunk is read (query, COPY, decoding) on a thread while the current one is
encoded and produced (``Prefetched``, one chunk ahead, so memory stays a few chunks whatever the
table's size), and rows go to ``Publisher.publish_reads`` without an event object each. Tables
whose column types the native encoder handles (most) skip Python values altogether: the reader's
thread turns each chunk's COPY text into Avro records (``native``) and they go to
``Publisher.publish_encoded``, with the same headers and the same acknowledgement per chunk.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from strangler.connectors.postgres.exactly_once import KafkaTransactions
from strangler.connectors.postgres.messages import Relation
from strangler.connectors.postgres.native import EncodedChunk, NativeTable, native_table
from strangler.connectors.postgres.progress import KeyText, ProgressFile, SnapshotProgress
from strangler.connectors.postgres.schemas import TableShapes
from strangler.connectors.postgres.snapshot import (
    PARTITION_TREE,
    SnapshotReader,
    qualified_name,
)
from strangler.connectors.publisher import Publisher
from strangler.connectors.snapshot_chunks import ChunkMark, Prefetched, SnapshotRate
from strangler.core.errors import ServiceUnavailable
from strangler.core.events import TableId

log = logging.getLogger("strangler.connectors.postgres.snapshot")

_SAVE_EVERY_S = 0.5

Chunk = list[dict[str, Any]] | EncodedChunk
"""A chunk as rows (the Python path) or as encoded records (the native path)."""


class SnapshotSource:
    """Reads ``tables`` through ``reader`` and publishes them, recording acknowledged chunks."""

    def __init__(
        self,
        reader: SnapshotReader,
        catalog: psycopg.Connection[Any],
        shapes: TableShapes,
        publisher: Publisher,
        progress: SnapshotProgress,
        progress_file: ProgressFile,
        stop: threading.Event,
        transactions: KafkaTransactions | None = None,
        siblings: Sequence[SnapshotReader] = (),
    ) -> None:
        self._reader = reader
        self._readers = [reader, *siblings]
        """Readers of the same snapshot (``SnapshotReader.sibling``): tables are read by as
        many at once, each table by one of them."""
        self._catalog = catalog
        """An autocommit connection: the current catalog (``SnapshotReader.describe``)."""
        self._shapes = shapes
        self._publisher = publisher
        self._progress = progress
        self._file = progress_file
        self._stop = stop
        self._transactions = transactions
        """Exactly-once: each chunk is committed in a Kafka transaction of its own."""
        self._seq = 0
        self._marks: deque[ChunkMark] = deque()
        """Marks handed to Kafka and not yet recorded, in order."""
        self._saved = 0.0
        self._unsaved = False
        """Marks recorded in ``_progress`` since the file was last written."""
        self.rows = 0

    def run(self, tables: Sequence[TableId], key: dict[TableId, tuple[str, ...]]) -> bool:
        """Snapshot ``tables`` (the reader holds their locks); True if all completed, False if
        stopped before or if some were rewritten after the reader's snapshot was taken: those
        stay pending, to be read under a fresh snapshot."""
        rewritten = self._reader.rewritten(tables, self._catalog)
        for table in rewritten:
            log.warning("%s was rewritten or truncated after the slot's snapshot was taken; it "
                        "is read under a fresh snapshot instead", table)  # fmt: skip
        try:
            self._read([t for t in tables if t not in rewritten], key)
            self._drain()
        finally:
            self._checkpoint(force=True)
        return not self._progress.pending(list(tables))

    def _drain(self, timeout: float = 300.0) -> None:
        """Wait until Kafka acknowledged every chunk handed to it (or failed one: then
        ``acknowledged()`` raises); record progress while waiting."""
        deadline = time.monotonic() + timeout
        while self._publisher.tracker.in_flight:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"Kafka acknowledged no snapshot chunk for {timeout:.0f} s",
                    fix="check the brokers; a restart resumes after the last acknowledged chunk",
                )
            self._publisher.flush(1.0)
            self._checkpoint()

    def _read(self, tables: Sequence[TableId], key: dict[TableId, tuple[str, ...]]) -> None:
        """Describe every table and register its schemas, then read them: each reader takes the
        next table not yet taken, and chunks are published as they come, from whichever table
        (a chunk mark names its table, so acknowledgements record each table's own progress)."""
        jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for table in tables:
            jobs.put(self._job(table, key[table]))
        sources = [self._worker(reader, jobs) for reader in self._readers]
        with Prefetched(sources[0], depth=len(sources), more=sources[1:]) as chunks:
            for job, chunk, last in chunks:
                if chunk is None:
                    self._publish([], job.table, last, done=True)
                    job.rate.report(final=True)
                    continue
                self._publish(chunk, job.table, last, done=False)
                job.rate.rows += len(chunk)
                self.rows += len(chunk)
                job.rate.report()
                if self._stop.is_set():
                    return

    def _job(self, table: TableId, key: tuple[str, ...]) -> _Job:
        relation = self._reader.describe(table, key, catalog=self._catalog)
        self._shapes.update(self._catalog, relation)
        after = self._progress.tables[table].after if table in self._progress.tables else None
        native = native_table(
            relation, self._shapes.schemas[table], self._reader.catalog,
            self._publisher.serializer, self._publisher.topic_of(table),
        )  # fmt: skip
        if native is None:
            log.info("snapshot %s: Python encoding (the native encoder does not take it)", table)
        rate = SnapshotRate(table, _estimate(self._catalog, table), log)
        return _Job(table, relation, after, native, rate)

    def _worker(
        self, reader: SnapshotReader, jobs: queue.SimpleQueue[_Job]
    ) -> Iterator[tuple[_Job, Chunk | None, KeyText | None]]:
        """One reader's chunks, table after table, each table closed by a ``None`` chunk."""
        while not self._stop.is_set():
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return
            job.rate.started = time.monotonic()
            last = job.after
            chunks: Iterator[tuple[Chunk, KeyText | None]] = (
                reader.row_chunks(job.relation, job.after)
                if job.native is None
                else reader.encoded_chunks(job.relation, job.native, job.after)
            )
            for chunk, last in chunks:
                yield job, chunk, last
            yield job, None, last

    def _publish(self, rows: Chunk, table: TableId, after: KeyText | None, done: bool) -> None:
        self._seq += 1
        mark = ChunkMark(self._seq, table, after, done)
        self._marks.append(mark)
        if self._transactions is not None:
            self._transactions.begin()
        if isinstance(rows, EncodedChunk):
            records = zip(rows.keys, rows.values, strict=True)
            self._publisher.publish_encoded(table, records, self._reader.position, mark)
        else:
            schema = self._shapes.schemas[table]
            self._publisher.publish_reads(table, schema, rows, self._reader.position, mark)
        if self._transactions is not None:  # committed before its progress is recorded
            self._transactions.record(None, len(rows))
            self._transactions.commit()
        self._checkpoint()

    def _checkpoint(self, *, force: bool = False) -> None:
        """Record every mark up to the acknowledged one: the tracker only names the newest,
        and the ones before it may end other tables."""
        acked = self._publisher.acknowledged()
        if isinstance(acked, ChunkMark):
            while self._marks and self._marks[0].seq <= acked.seq:
                mark = self._marks.popleft()
                self._progress.mark(mark.table, mark.after, mark.done)
                self._unsaved = True
        now = time.monotonic()
        # written when there is news, at most every _SAVE_EVERY_S: the first acknowledged chunk
        # at once (a table snapshots in less than that interval now)
        if force or (self._unsaved and now - self._saved >= _SAVE_EVERY_S):
            self._file.save(self._progress)
            self._saved = now
            self._unsaved = False


@dataclass(slots=True)
class _Job:
    """One table to read: its description, resume point, native plan and progress line."""

    table: TableId
    relation: Relation
    after: KeyText | None
    native: NativeTable | None
    rate: SnapshotRate


def _estimate(conn: psycopg.Connection[Any], table: TableId) -> int:
    """Rows of the table (partitions included) according to the planner's statistics."""
    row = conn.execute(
        PARTITION_TREE + "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint "
        "FROM pg_catalog.pg_class c JOIN tree t ON c.oid = t.relid",
        {"table": qualified_name(conn, table)},
    ).fetchone()
    return int(row[0]) if row else 0
