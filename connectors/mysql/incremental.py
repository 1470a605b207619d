"""Incremental snapshots of a MySQL/MariaDB source: re-read one table while streaming goes on.

``strangler snapshot`` drops a *signal file* into ``<state_dir>/<source>.signals/`` (the binlog
carries no application messages); the running connector picks it up within a second, and a
stopped one when it runs again. Accepted requests and their chunk progress live in
``<state_dir>/<source>.incremental.json`` (``connectors.resnapshot``).

Each chunk is read in a consistent snapshot of its own whose binlog position P is exact (the
initial snapshot's reader: MariaDB reports the position of a ``WITH CONSISTENT SNAPSHOT``
transaction, MySQL brackets it with a brief global read lock), so the chunk's rows are the
table's state at P. The streaming loop publishes the chunk at once, between two transactions
it handles, which is why no window is needed as with PostgreSQL's watermarks:

- every transaction the loop has not published yet and that ends after P comes after the
  chunk in the topic, so a change the chunk does not contain always lands after its row;
- a transaction ending at or before P that the loop had not yet published (it was still queued)
  lands after the chunk too, but the last of them on a key is the key's state at P, which is the
  chunk's row: the topic still converges, and views skip those events (their position is older
  than the chunk's, and a view never moves a key back to an older position).

The chunk is flushed to Kafka before its progress is saved, so a restarted connector resumes
after the last acknowledged chunk.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.connectors.mysql.state import _decode_key, _encode_key
from strangler.connectors.publisher import Publisher
from strangler.connectors.resnapshot import Request, Requests
from strangler.core.events import TableId

if TYPE_CHECKING:
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.mysql.connector import MysqlConnector

log = logging.getLogger("strangler.connectors.mysql.incremental")

_SIGNALS_EVERY_S = 0.5
_CHUNK_EVERY_S = 0.02


def signal_dir(source: MysqlSource) -> Path:
    return source.state_dir / f"{source.name}.signals"


def request_snapshot(source: MysqlSource, table: TableId) -> str:
    """Drop the signal asking the connector of ``source`` to re-snapshot ``table``; its id."""
    request_id = uuid.uuid4().hex[:16]
    folder = signal_dir(source)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{request_id}.tmp"
    tmp.write_text(json.dumps({"id": request_id, "table": [table.schema, table.name]}))
    os.replace(tmp, folder / f"{request_id}.json")  # whole or not at all
    return request_id


class MysqlIncremental:
    """Runs requested re-snapshots inside one streaming session (see the module docstring)."""

    def __init__(
        self,
        owner: MysqlConnector,
        shapes: TableShapes,
        publisher: Publisher,
        position: BinlogPosition,
    ) -> None:
        self._owner = owner
        self._shapes = shapes
        self._publisher = publisher
        self._position = position
        """End of the last transaction handed to Kafka: what a chunk is tracked at."""
        self._requests = Requests(owner.source)
        self._next_look = 0.0
        self._last_chunk = 0.0

    def published(self, end: BinlogPosition) -> None:
        """The loop handed a transaction ending at ``end`` to Kafka."""
        self._position = end

    def tick(self, backlog: bool) -> None:
        """Take new signals now and then; read and publish the next chunk of the current
        request (with transactions waiting, at most one chunk per ``_CHUNK_EVERY_S``: the
        stream keeps up, and the re-snapshot still advances under a steady write load)."""
        now = time.monotonic()
        if now >= self._next_look:
            self._take_signals()
            self._next_look = now + _SIGNALS_EVERY_S
        if backlog and now - self._last_chunk < _CHUNK_EVERY_S:
            return
        request = self._requests.current()
        if request is None:
            return
        try:
            self._chunk(request)
        except (MysqlError, pymysql.err.MySQLError) as exc:
            # the table went away, no RELOAD privilege for MySQL's brief global read lock, ...:
            # this request fails and says why; streaming goes on
            request.fail(f"reading {request.table} failed: {exc}")
            log.error("incremental snapshot %s: %s", request.id, request.reason)
            self._requests.save()
        self._last_chunk = time.monotonic()

    def _take_signals(self) -> None:
        folder = signal_dir(self._owner.source)
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                body = json.loads(path.read_text())
                table = TableId(*body["table"])
                self._requests.accept(str(body["id"]), table, self._shapes.tables)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignored the unreadable snapshot signal %s: %s", path, exc)
            path.unlink()

    def _chunk(self, request: Request) -> None:
        """Read the next chunk at its exact position, publish it, wait for Kafka, record it."""
        source = self._owner.source
        rows = source.snapshot.chunk_rows
        after = None if request.after is None else _decode_key(request.after)
        with SnapshotReader(self._owner.settings, chunk_rows=rows) as reader:
            codec = reader.describe(request.table, self._shapes.key_of(request.table))
            if not codec.key:  # read in one pass, it could not be resumed nor interleaved
                request.state, request.reason = "rejected", f"{request.table} has no key"
                self._requests.save()
                return
            chunk = next(reader.read(codec, after), None)
            position = reader.position
        assert position is not None and position.file is not None
        schemas = {request.table: self._shapes.publishable(codec.schema)}
        events = [] if chunk is None else chunk.events
        projected = self._shapes.project(events, schemas, position.file)
        self._publisher.publish(projected, schemas, self._position)
        self._publisher.flush()
        self._publisher.acknowledged()  # raises if Kafka refused any of it
        request.state = "running"
        request.chunks += 1
        request.rows += len(events)
        if chunk is not None and chunk.last_key is not None:
            request.after = _encode_key(chunk.last_key)
        if len(events) < rows:
            request.state, request.finished = "done", time.time()
            log.info("incremental snapshot of %s done: %d rows in %d chunks",
                     request.table, request.rows, request.chunks)  # fmt: skip
        self._requests.save()
