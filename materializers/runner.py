"""The Kafka side of a view: a consumer group member that feeds the applier.

- One consumer per view, group ``strangler-view-<name>``, ``read_committed``, no offset
  commits to Kafka at all: the offsets live only in the view database, next to the rows. On
  every assignment the consumer seeks to the stored offsets (the beginning of a partition the
  view never saw), so a restart or a rebalance resumes exactly after the last applied batch.
- A batch is what the consumer holds when the previous one is decoded (at most
  ``batch_size`` records; if none, the first to arrive within ``batch_timeout_ms``), decoded
  and applied in one database transaction: by the fused apply (``fused``) unless it
  leaves the batch to the Python path. The fused apply works in this thread; a PostgreSQL
  view's COMMIT is sent and waited for once the next batch is polled and scanned (or before
  waiting for records), and a batch whose commit failed goes to the Python path before the
  next one. The Python path applies batches in a thread of their own (``ApplyThread``, if the
  target gains: ``Target.apply_ahead``), one at a time and in order, while the next one is
  polled, decoded and prepared; a batch that fails stops the view before the next one begins.
  The batch in flight (either way) is finished before a rebalance reads or gives up offsets,
  before the lag is measured, and before ``run`` returns.
- ``stop()`` (from a signal handler or another thread) ends the loop after the batch in
  flight (a batch decoded but not yet applied is left: its offsets were not stored, so it is
  read again on the next start).
- A view started before its topics exist (``strangler materialize`` before the connector)
  waits for them, saying once which topic it waits for; subscribing to a missing topic would
  fail with UNKNOWN_TOPIC_OR_PART.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from strangler.core.errors import StranglerError
from strangler.core.kafka import KafkaSettings, consumer_config
from strangler.materializers.applier import Applier, Prepared
from strangler.materializers.apply_thread import ApplyThread
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import KafkaRecord, RecordDecoder
from strangler.materializers.errors import MaterializerError
from strangler.materializers.fused import fast_apply
from strangler.materializers.lag import LagTracker, PartitionLag
from strangler.materializers.records import Received
from strangler.materializers.schemas import SchemaSource
from strangler.materializers.target import Target

log = logging.getLogger(__name__)

MAX_RETRIES = 8
LAG_INTERVAL_S = 1.0
TOPIC_POLL_S = 0.5


def wait_for_topics(consumer: Consumer, topics: Sequence[str], stop: threading.Event) -> bool:
    """Wait until every topic in ``topics`` exists; True then, False if ``stop`` is set first.

    Says once per topic which one it waits for (and once if Kafka cannot be asked), so a view
    started before its connector neither fails nor waits silently."""
    missing_before: set[str] = set()
    unreachable_logged = False
    while not stop.is_set():
        try:
            missing = _missing_topics(consumer, topics)
        except KafkaException as exc:
            if not unreachable_logged:
                log.warning("waiting for Kafka to list topics: %s", exc)
                unreachable_logged = True
            missing = set(topics)
        if not missing:
            return True
        for topic in sorted(missing - missing_before):
            log.info("waiting for topic %s to be created (is the connector running?)", topic)
        missing_before |= missing
        stop.wait(TOPIC_POLL_S)
    return False


def _missing_topics(consumer: Consumer, topics: Sequence[str]) -> set[str]:
    found = consumer.list_topics(timeout=5).topics
    return {t for t in topics if t not in found or found[t].error is not None}


class ViewRunner:
    """Keeps one view in sync with its topics (see the module docstring)."""

    def __init__(
        self, view: ViewConfig, kafka: KafkaSettings, schemas: SchemaSource, target: Target
    ) -> None:
        self.view = view
        self.applier = Applier(view, target)
        self.decoder = RecordDecoder(view.topics, schemas)
        self.lag_tracker = LagTracker()
        self._stop = threading.Event()
        self.assigned = threading.Event()
        """Set once the group gave this runner its partitions (and it sought to them)."""
        self._lag: dict[tuple[str, int], PartitionLag] = {}
        self._next_lag = 0.0
        self.applied_records = 0
        """Records applied since the start (``strangler run``'s metrics)."""
        self._idle_since: float | None = None
        """Monotonic time of the last record (or assignment); None before any assignment."""
        self._consumer = Consumer(consumer_config(kafka, view.group_id, **view.consumer))
        self._applying: ApplyThread[tuple[Sequence[Received], Prepared | None]] = ApplyThread(
            self._apply_with_retries, f"apply-{view.name}", target.apply_ahead
        )
        self._fast = fast_apply(self.applier, self.decoder, self._fast_committed)
        """The view's fused apply (``fused``), tried first for every batch."""

    def stop(self) -> None:
        """Finish the current batch, then leave the group and return from ``run``."""
        self._stop.set()

    def run(self, idle_exit_s: float | None = None) -> None:
        """Consume and apply until ``stop()`` (or ``idle_exit_s`` without any record); wait
        for the view's topics first."""
        topics = [t.topic for t in self.view.topics]
        try:
            if not wait_for_topics(self._consumer, topics, self._stop):
                return
            self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
            while not self._stop.is_set():
                messages = self._poll()
                for left in self._fast_apply(messages):
                    self._python_apply(left)
                self._lag_due()
                if not messages and self._idle_too_long(idle_exit_s):
                    return
        finally:
            try:
                self._settle()
                self._applying.close()
            finally:
                self._consumer.close()

    def _python_apply(self, messages: Sequence[KafkaRecord]) -> None:
        """Decode and prepare ``messages`` (while the batch before is applied), then apply them
        in the apply thread."""
        batch = self.decoder.decode_all(messages)
        prepared = self.applier.prepare(batch) if batch else None
        if batch:
            self._applying.submit((batch, prepared))
            self._idle_since = time.monotonic()

    def _fast_apply(self, messages: Sequence[KafkaRecord]) -> list[Sequence[KafkaRecord]]:
        """Give ``messages`` to the fused apply (which runs in this thread, so nothing may be
        in flight in the apply thread); the batches it leaves to the Python path, in order."""
        if self._fast is None or not messages:
            return [messages] if messages else []
        self._applying.wait()
        self._idle_since = time.monotonic()
        return self._fast.apply(messages)

    def _settle(self) -> None:
        """Wait for a commit of the fused apply that is out; a batch whose commit failed goes
        to the Python path; then wait for the apply thread. Before the view database is read
        (offsets on a rebalance, the lag), before waiting for records, and before leaving."""
        if self._fast is not None:
            for left in self._fast.settle():
                self._python_apply(left)
        self._applying.wait()

    def _fast_committed(self, offsets: dict[tuple[str, int], int], count: int) -> None:
        self.lag_tracker.applied_up_to(offsets)
        self.applied_records += count

    def _idle_too_long(self, idle_exit_s: float | None) -> bool:
        if idle_exit_s is None or self._idle_since is None:
            return False
        return time.monotonic() - self._idle_since > idle_exit_s

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish the batch in flight before its partitions may go to another member."""
        self._settle()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()  # its connection is needed now
        stored = self.applier.stored_offsets()
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        assigned = [(p.topic, p.partition, p.offset) for p in partitions]
        log.info("view %s assigned %s", self.view.name, assigned)
        if self.view.consumer.get("partition.assignment.strategy") == "cooperative-sticky":
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        self._idle_since = time.monotonic()
        self.assigned.set()

    def _poll(self) -> list[Message]:
        """What is there now (up to batch_size); if nothing, wait for the first record.

        A batch never waits to fill: under load records pile up while the previous batch is
        applied, so batches grow by themselves, and a lone record is applied at once."""
        size = self.view.batch_size
        messages = self._consumer.consume(size, 0)
        if not messages:
            self._settle()  # (the lag tracker learns of a commit the fused apply left out)
            first = self._consumer.poll(self.view.batch_timeout_ms / 1000)
            if first is None:
                return []
            messages = [first, *self._consumer.consume(size - 1, 0)] if size > 1 else [first]
        records = [m for m in messages if _is_record(m)]
        self._saw(records)
        return records

    def _saw(self, messages: Sequence[Message]) -> None:
        """Lag needs the source commit time of the last record of each partition only (its
        headers are read again here: once per partition and batch, not once per record)."""
        last = {(m.topic(), m.partition()): m for m in messages}
        for message in last.values():
            self.lag_tracker.saw(message)

    def _apply_with_retries(self, work: tuple[Sequence[Received], Prepared | None]) -> None:
        batch, prepared = work
        for attempt in range(MAX_RETRIES):
            try:
                self.applier.apply(batch, prepared)
                self.lag_tracker.applied(batch)
                self.applied_records += len(batch)
                return
            except StranglerError as exc:
                if not exc.retriable or attempt == MAX_RETRIES - 1:
                    raise
                log.warning("view %s: %s; retrying the batch", self.view.name, exc)
                time.sleep(min(0.1 * 2**attempt, 5.0))

    def lag(self) -> dict[tuple[str, int], PartitionLag]:
        """Records behind the end and seconds behind the source commit, per partition, as of
        the loop's last look (a consumer may only be used from the thread that runs it)."""
        return dict(self._lag)

    def _lag_due(self) -> None:
        """Measure the lag if it was last measured ``LAG_INTERVAL_S`` ago (nothing in flight)."""
        if time.monotonic() >= self._next_lag:
            self._settle()
            self._measure_lag()
            self._next_lag = time.monotonic() + LAG_INTERVAL_S

    def _measure_lag(self) -> None:
        """Refresh ``lag()`` from the end offsets the consumer's fetches brought back."""
        ends: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                ends[(tp.topic, tp.partition)] = high
        self._lag = self.lag_tracker.lag(self.applier.stored_offsets(), ends)


def _is_record(message: Message) -> bool:
    error: Any = message.error()
    if error is None:
        return True
    if error.code() == KafkaError._PARTITION_EOF:
        return False
    if error.fatal() or not error.retriable():
        raise MaterializerError(f"Kafka consumer error: {error}")
    log.warning("Kafka consumer error (retried by the client): %s", error)
    return False
