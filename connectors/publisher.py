"""Publishing change events to table topics, and knowing which source position is safe.

One transaction at a time is handed to the producer (acks=all, idempotent); each record's
delivery callback is counted by an ``AckTracker``, and ``acknowledged()`` gives the newest source
position up to which Kafka has every event. Connectors confirm exactly that position to the
source, never a position that was merely received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from strangler.connectors.acks import AckTracker, PendingTransaction
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import ChangeEvent, Op, Position, TableId
from strangler.core.headers import event_headers
from strangler.core.schema import TableSchema

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

TopicFor = Callable[[TableId], str]


class Publisher:
    """Writes change events of whole transactions to their table topics."""

    def __init__(
        self,
        producer: Producer,
        serializer: TableSerializer,
        topic_for: TopicFor,
        position_kind: str,
        acknowledged: Position | None = None,
    ) -> None:
        self._producer = producer
        self._serializer = serializer
        self._topic_for = topic_for
        self._position_kind = position_kind
        self.tracker = AckTracker(acknowledged)
        self._partitions: dict[str, int] = {}

    def publish(
        self,
        events: Iterable[ChangeEvent],
        schemas: Mapping[TableId, TableSchema],
        end: Position,
        gtid: str | None = None,
    ) -> None:
        """Hand every event of one transaction to the producer; ``end`` is where the source
        resumes after it; ``gtid`` (MySQL/MariaDB) goes into every record's ``gtid`` header.
        Returns once all are queued (not yet acknowledged)."""
        tx = self.tracker.begin(end)
        for event in events:
            if event.op is Op.TRUNCATE:
                self._truncate(tx, event, gtid)
            else:
                self._row(tx, event, schemas[event.table], gtid)
        self.tracker.seal(tx)
        self._producer.poll(0)

    def acknowledged(self) -> Position | None:
        """Serve delivery callbacks, then return the position that may be confirmed."""
        self._producer.poll(0)
        return self.tracker.acknowledged()

    def flush(self, timeout: float = 30.0) -> Position | None:
        """Wait for every queued record; return the position that may be confirmed."""
        self._producer.flush(timeout)
        return self.tracker.acknowledged()

    def _row(
        self, tx: PendingTransaction, event: ChangeEvent, schema: TableSchema, gtid: str | None
    ) -> None:
        topic = self._topic_for(event.table)
        key = self._serializer.key(topic, schema, event.key or {})
        value = (
            None if event.op is Op.DELETE else self._serializer.value(topic, schema, event.after)
        )
        self._produce(tx, topic, key, value, event, None, gtid)

    def _truncate(self, tx: PendingTransaction, event: ChangeEvent, gtid: str | None) -> None:
        """A truncate marker on every partition, so every consumer sees it in order with the
        rows of its partition. Its value is not null (a null would be a tombstone, removed by
        compaction); compaction keeps the newest marker per partition at its offset, so a replay
        from the beginning still clears what came before it."""
        topic = self._topic_for(event.table)
        marker = self._serializer.truncate_marker(str(event.table))
        for partition in range(self._partition_count(topic)):
            self._produce(tx, topic, marker, marker, event, partition, gtid)

    def _produce(
        self,
        tx: PendingTransaction,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        event: ChangeEvent,
        partition: int | None,
        gtid: str | None = None,
    ) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            self.tracker.delivered(tx, None if err is None else str(err))

        kwargs: dict[str, Any] = {
            "key": key,
            "value": value,
            "on_delivery": on_delivery,
            "headers": event_headers(event, self._position_kind, gtid=gtid),
        }
        if partition is not None:
            kwargs["partition"] = partition
        self.tracker.sent(tx)
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:  # the local queue is full: serve callbacks to drain it
                self._producer.poll(0.1)

    def _partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            metadata = self._producer.list_topics(topic, timeout=30)
            self._partitions[topic] = len(metadata.topics[topic].partitions)
        return self._partitions[topic]
