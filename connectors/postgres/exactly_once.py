"""Exactly-once mode: events and the source position committed in one Kafka transaction.

Every record goes through a transactional producer. Streamed PostgreSQL transactions are
batched into one Kafka transaction (at most ``commit_interval_s`` or ``max_events``), which also
carries the position after them as a record of the source's offsets topic (compacted, key = the
source name, value = the LSN). Only after the Kafka commit is the slot confirmed. After a crash,
the open Kafka transaction is aborted (``init_transactions`` fences it), the slot replays from
its confirmed position, and transactions at or before the position in the offsets topic are
skipped: a ``read_committed`` consumer sees each change once.

Snapshot chunks are committed one Kafka transaction each; their progress is recorded (locally)
after the commit, so a crash between the two repeats that chunk's snapshot reads (identical
rows, op ``r``). Streamed changes never repeat.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from strangler.connectors.postgres.errors import PostgresError
from strangler.connectors.postgres.lsn import Lsn
from strangler.core.errors import ServiceUnavailable
from strangler.core.kafka import KafkaSettings, consumer_config

if TYPE_CHECKING:
    from confluent_kafka import Producer


class KafkaTransactions:
    """The open Kafka transaction of a transactional producer, and its offset record."""

    def __init__(
        self,
        producer: Producer,
        offsets_topic: str,
        key: str,
        *,
        commit_interval_s: float = 0.1,
        max_events: int = 20_000,
    ) -> None:
        self._producer = producer
        self._topic = offsets_topic
        self._key = key.encode()
        self._interval = commit_interval_s
        self._max_events = max_events
        self._began = 0.0
        self._events = 0
        self._last: Lsn | None = None
        self.open = False

    def init(self) -> None:
        """Register the transactional id; aborts what a previous instance left open."""
        self._call("initialise transactions", lambda: self._producer.init_transactions(60))

    def begin(self) -> None:
        if not self.open:
            self._producer.begin_transaction()
            self.open, self._began, self._events, self._last = True, time.monotonic(), 0, None

    def record(self, end: Lsn | None, events: int) -> None:
        """A whole source transaction (ending at ``end``) was produced in the open one."""
        self._events += events
        if end is not None:
            self._last = end

    def due(self) -> bool:
        elapsed = time.monotonic() - self._began
        return self.open and (elapsed >= self._interval or self._events >= self._max_events)

    def commit(self) -> Lsn | None:
        """Commit (with the offset record, if a position was recorded); returns the position
        now safe to confirm to the slot."""
        if not self.open:
            return None
        if self._last is not None:
            self._producer.produce(self._topic, key=self._key, value=self._last.encode().encode())
        self._call("commit the transaction", lambda: self._producer.commit_transaction(60))
        self.open = False
        return self._last

    def abort(self) -> None:
        if self.open:
            self.open = False
            self._call("abort the transaction", lambda: self._producer.abort_transaction(60))

    def _call(self, what: str, action: object) -> None:
        from confluent_kafka import KafkaException

        try:
            action()  # type: ignore[operator]
        except KafkaException as exc:
            raise ServiceUnavailable(
                f"Kafka could not {what}: {exc}",
                fix="restart: uncommitted events are discarded and replayed from the slot",
            ) from exc


def committed_position(settings: KafkaSettings, topic: str, key: str) -> Lsn | None:
    """The newest committed position of ``key`` in the offsets topic (read_committed)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        consumer_config(settings, f"strangler-offsets-{uuid.uuid4().hex}",
                        **{"enable.partition.eof": True})
    )  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        return _read_last(consumer, key.encode(), len(partitions))
    finally:
        consumer.close()


def _read_last(consumer: object, key: bytes, partitions: int) -> Lsn | None:
    from confluent_kafka import KafkaError

    found: Lsn | None = None
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    while len(at_end) < partitions:
        if time.monotonic() > deadline:
            raise PostgresError("the offsets topic could not be read to its end within 60 s")
        message = consumer.poll(0.5)  # type: ignore[attr-defined]
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise ServiceUnavailable(f"reading the offsets topic failed: {error}")
            at_end.add(message.partition())
        elif message.key() == key and message.value() is not None:
            found = Lsn.parse(message.value().decode())
    return found
