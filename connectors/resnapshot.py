"""Re-snapshot requests of one source (``strangler snapshot``) and how far each got.

Both connectors keep them in ``<state_dir>/<source>.incremental.json``, written by the running
connector only, with chunks Kafka acknowledged; ``strangler status`` and ``snapshot --wait``
read it. How a request reaches the connector and how chunks are interleaved with the stream is
each engine's own (``postgres.incremental``: a WAL signal and watermarks; ``mysql.incremental``:
a signal file and the exact binlog position of each chunk's consistent read).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from strangler.core.errors import StranglerError
from strangler.core.events import TableId

log = logging.getLogger("strangler.connectors.resnapshot")


class _Source(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def state_dir(self) -> Path: ...


@dataclass(slots=True)
class Request:
    """One table to re-snapshot, and how far it got (chunks Kafka acknowledged)."""

    id: str
    table: TableId
    state: str = "pending"
    """pending, running, done, rejected (never started) or failed (see ``reason``)."""
    after: list[Any] | None = None
    """The last key of the last acknowledged chunk (in the engine's JSON form)."""
    chunks: int = 0
    rows: int = 0
    dropped: int = 0
    """Chunk rows left to the stream (PostgreSQL: their key changed inside the window)."""
    requested: float = field(default_factory=time.time)
    finished: float | None = None
    reason: str | None = None

    @property
    def open(self) -> bool:
        """Still to be worked on."""
        return self.state in ("pending", "running")

    def fail(self, reason: str) -> None:
        self.state, self.reason, self.finished = "failed", reason, time.time()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "table": [self.table.schema, self.table.name]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        schema, name = data.pop("table")
        return cls(table=TableId(schema, name), **data)


class RequestFile:
    """``<state_dir>/<source>.incremental.json``: every request of one source."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, source: _Source) -> RequestFile:
        return cls(source.state_dir / f"{source.name}.incremental.json")

    def load(self) -> list[Request]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            return [Request.from_json(r) for r in data["requests"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StranglerError(
                f"incremental snapshot file {self.path} is unreadable: {exc}",
                fix="delete it (requests not finished are then forgotten: ask for them again)",
            ) from exc

    def save(self, requests: Iterable[Request]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"requests": [r.to_json() for r in requests]}))
        os.replace(tmp, self.path)


class Requests:
    """The requests of one source as its running connector works on them: accepted once per
    id, the first open one worked on, saved after every change."""

    def __init__(self, source: _Source) -> None:
        self._file = RequestFile.of(source)
        self._items = self._file.load()

    def accept(self, request_id: str, table: TableId, captured: Collection[TableId]) -> None:
        if any(r.id == request_id for r in self._items):
            return  # a signal seen again (replayed after a restart)
        request = Request(request_id, table)
        if table not in captured:
            request.state, request.reason = "rejected", f"{table} is not captured by this source"
            log.warning("snapshot request %s rejected: %s", request.id, request.reason)
        else:
            log.info("incremental snapshot of %s requested (%s)", table, request.id)
        self._items.append(request)
        self.save()

    def current(self) -> Request | None:
        """The oldest request still to be worked on."""
        return next((r for r in self._items if r.open), None)

    def save(self) -> None:
        self._file.save(self._items)
