"""Applying a view's batches in a thread of their own, one at a time, while the caller
decodes the next one.

The view database works on batch N (COPY, upserts, commit) while the consumer's thread polls
and decodes batch N+1: the two overlap instead of taking turns (psycopg and sqlite3 let go of
the GIL while the database works). At most one batch is in flight, and batches are applied
strictly in order, each still one transaction with its offsets: ``submit`` first waits for
the batch before and raises its error, so a failed batch stops the view before the next one
begins. ``wait`` returns once nothing is in flight (raising what the last batch raised): call
it before anything else uses the view database's connection (a rebalance reading the stored
offsets, a look at the lag) and before leaving (``close``), so a graceful stop ends after the
batch in flight is committed.

Not every database gains: SQLite's statements let go of the GIL and take it back for every
row, so a second thread busy decoding makes each row wait for it. A target says whether it
gains (``Target.apply_ahead``); if not, ``submit`` applies the batch in the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class ApplyThread(Generic[T]):
    """Runs ``apply(batch)`` for each submitted batch in one worker thread, in order (see the
    module docstring)."""

    def __init__(self, apply: Callable[[T], None], name: str, threaded: bool = True) -> None:
        self._apply = apply
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name) if threaded else None
        self._pending: Future[None] | None = None

    def submit(self, batch: T) -> None:
        """Wait for the batch in flight (raising its error: then ``batch`` is not applied),
        then start applying ``batch`` and return (unthreaded: apply it, then return)."""
        self.wait()
        if self._executor is None:
            self._apply(batch)
            return
        self._pending = self._executor.submit(self._apply, batch)

    def wait(self) -> None:
        """Return once no batch is in flight; raise the error of the one that was."""
        pending = self._pending
        if pending is None:
            return
        try:
            pending.result()
        finally:
            if pending.done():  # not if this thread was interrupted while waiting
                self._pending = None

    def close(self) -> None:
        """Wait for the batch in flight (raising its error), then end the worker thread."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
