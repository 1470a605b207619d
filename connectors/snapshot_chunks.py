"""What the two snapshotters share: the chunk mark that Kafka acknowledges, and the per-table
progress line (rows, rows/s, estimated total, ETA)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from strangler.core.events import Position, TableId

REPORT_EVERY_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChunkMark(Position):
    """The acknowledgement unit of a snapshot: one chunk (or the end) of one table.
    ``after`` is the last key of the chunk in the engine's own form (resume point)."""

    seq: int
    table: TableId
    after: Any
    done: bool

    def encode(self) -> str:
        return f"chunk {self.seq} of {self.table}"

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, ChunkMark):
            return NotImplemented
        return self.seq < other.seq


@dataclass(slots=True)
class SnapshotRate:
    """Progress of one table's snapshot, logged at most every few seconds and at the end."""

    table: TableId
    estimate: int
    log: logging.Logger
    rows: int = 0
    started: float = 0.0
    reported: float = 0.0

    def report(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.reported < REPORT_EVERY_S:
            return
        self.reported = now
        rate = self.rows / max(now - self.started, 1e-6)
        left = max(self.estimate - self.rows, 0)
        eta = "done" if final else f"{left / rate:.0f}s" if rate > 0 and left else "?"
        self.log.info(
            "snapshot %s: %d of ~%d rows, %.0f rows/s, eta %s",
            self.table, self.rows, self.estimate, rate, eta,
        )  # fmt: skip


_END = object()


class Prefetched(Generic[T]):
    """Items of ``source`` produced by a thread of their own, at most ``depth`` ahead.

    A snapshot alternates between waiting for the database (the next chunk's query and COPY,
    which release the GIL) and encoding and producing the chunk it has: reading the next chunk
    while the current one is published overlaps the two, and memory stays bounded by ``depth``
    chunks. An error of the source is raised to the consumer at the item where it happened.
    ``close()`` (also on exit from ``with``) stops the thread before the caller uses the
    source's connection again.

    ``more``: further sources, each read by a thread of its own into the same queue (parallel
    snapshot readers); the items of one source keep their order, the sources interleave.
    """

    def __init__(
        self, source: Iterator[T], depth: int = 1, *, more: Sequence[Iterator[T]] = ()
    ) -> None:
        self._sources = [source, *more]
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(s,), name="snapshot-prefetch", daemon=True)
            for s in self._sources
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - not swallowed: raised in the consumer
            self._put(_Failed(exc))

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        running = len(self._sources)
        while running:
            item = self._queue.get()
            if item is _END:
                running -= 1
                continue
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for source in self._sources:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException
