"""Embedded storage: the ``_schemas`` log kept in a local SQLite file.

One table holds the log (sequence number, key bytes, value bytes), the same records Confluent
writes to its topic, so nothing is lost on restart: ``start`` replays the table into the view.
``append`` inserts, commits, then reads every row after the last applied one (its own and any
other process's) before returning, which gives read-your-own-write through the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from strangler.schema_registry.errors import StoreError
from strangler.schema_registry.records import LogRecord, MalformedRecord, decode, encode
from strangler.schema_registry.storage import Apply

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schemas_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB NOT NULL,
    value BLOB
)
"""


class SqliteStorage:
    """The registry log in one SQLite file (WAL mode, so readers never block the writer)."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._applied = 0
        self._apply: Apply | None = None
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open registry database {self._path}: {exc}") from exc
        return db

    def start(self, apply: Apply) -> None:
        self._apply = apply
        self.sync()

    def append(self, record: LogRecord) -> None:
        key, value = encode(record)
        with self._lock:
            try:
                self._db.execute("INSERT INTO schemas_log (key, value) VALUES (?, ?)", (key, value))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the registry log: {exc}") from exc
            self._catch_up()

    def sync(self) -> None:
        with self._lock:
            self._catch_up()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _catch_up(self) -> None:
        assert self._apply is not None, "start() before append()"
        try:
            rows = self._db.execute(
                "SELECT seq, key, value FROM schemas_log WHERE seq > ? ORDER BY seq",
                (self._applied,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the registry log: {exc}") from exc
        for seq, key, value in rows:
            self._apply_row(bytes(key), None if value is None else bytes(value))
            self._applied = seq

    def _apply_row(self, key: bytes, value: bytes | None) -> None:
        assert self._apply is not None
        try:
            record = decode(key, value)
        except MalformedRecord as exc:
            # Confluent's store reader skips records it cannot deserialize; one foreign record
            # must not stop the registry from starting. It is reported, never silently dropped.
            log.error("skipping malformed registry log record: %s", exc)
            return
        if record is not None:
            self._apply(record)
