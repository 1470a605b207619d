"""Publishing change events to table topics, and knowing which source position is safe.

One transaction at a time is handed to the producer (acks=all, idempotent); each record's
delivery callback is counted by an ``AckTracker``, and ``acknowledged()`` gives the newest source
position up to which Kafka has every event. Connectors confirm exactly that position to the
source, never a position that was merely received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strangler.connectors.acks import AckTracker, PendingTransaction
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import ChangeEvent, Op, Position, Row, TableId
from strangler.core.headers import event_headers
from strangler.core.schema import TableSchema

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

TopicFor = Callable[[TableId], str]
_Headers = list[tuple[str, str | bytes | None]]
"""Headers as the producer takes them."""


@dataclass(slots=True)
class EncodedChange:
    """A row change whose records a connector's native path encoded already (insert or update:
    ``op`` is c or u): ``publish`` writes ``key`` and ``value`` as they are, with the headers of
    the transaction it is published in. ``schema`` is the table schema they were encoded with."""

    table: TableId
    op: Op
    key: bytes
    value: bytes
    schema: TableSchema


@dataclass(slots=True)
class EncodedRows:
    """The records of one source row event that a connector's native path encoded (MySQL):
    ``publish`` writes each (key, value) as it is, with the headers of the transaction it is
    published in, of operation ``op``, except that a record without a value (a tombstone:
    every row of a delete, the old key of an update that changed the key) has those of a
    delete. ``schema`` is the table schema they were encoded with."""

    table: TableId
    op: Op
    records: list[tuple[bytes, bytes | None]]
    schema: TableSchema


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
        self._topics: dict[TableId, str] = {}
        self._headers_of: tuple[Any, ...] = ()
        self._headers: _Headers = []

    def publish(
        self,
        events: Iterable[ChangeEvent | EncodedChange | EncodedRows],
        schemas: Mapping[TableId, TableSchema],
        end: Position,
        gtid: str | None = None,
        *,
        commit_ts_us: int | None = None,
        tx_id: str | None = None,
        position: Position | None = None,
    ) -> None:
        """Hand every event of one transaction to the producer; ``end`` is where the source
        resumes after it; ``gtid`` (MySQL/MariaDB) goes into every record's ``gtid`` header.
        Encoded changes get the headers of an event of the transaction: position ``position``
        (default ``end``), ``commit_ts_us`` and ``tx_id``. Returns once all are queued (not
        yet acknowledged)."""
        tx = self.tracker.begin(end)
        on_delivery = self._on_delivery(tx)
        produce = self._producer.produce
        encoded = 0  # counted once, before the seal: see publish_encoded
        table, topic, by_op = None, "", dict[Op, _Headers]()
        at = end if position is None else position

        def op_headers(op: Op) -> _Headers:
            """The headers of encoded changes of ``op`` in this transaction (made once)."""
            made = by_op[op] = list(self._new_headers((op, at, tx_id, commit_ts_us, gtid)))
            return made

        for event in events:
            if isinstance(event, EncodedRows):  # MySQL's hot path: one item per row event
                if event.table is not table:
                    table, topic = event.table, self.topic_of(event.table)
                headers = by_op.get(event.op) or op_headers(event.op)
                encoded += len(event.records)
                for key, value in event.records:
                    if value is None and event.op is not Op.DELETE:  # a changed key's tombstone
                        tombstone = by_op.get(Op.DELETE) or op_headers(Op.DELETE)
                        self._send(topic, key, value, on_delivery, tombstone)
                        continue
                    try:
                        produce(
                            topic, key=key, value=value, on_delivery=on_delivery, headers=headers
                        )
                    except BufferError:
                        self._send(topic, key, value, on_delivery, headers)
            elif isinstance(event, EncodedChange):  # the hot path: no lookup it can spare
                if event.table is not table:
                    table, topic = event.table, self.topic_of(event.table)
                headers = by_op.get(event.op) or op_headers(event.op)
                encoded += 1
                key, value = event.key, event.value
                try:
                    produce(topic, key=key, value=value, on_delivery=on_delivery, headers=headers)
                except BufferError:
                    self._send(topic, key, value, on_delivery, headers)
            elif event.op is Op.TRUNCATE:
                self._truncate(tx, on_delivery, event, gtid)
            else:
                self._row(tx, on_delivery, event, schemas[event.table], gtid)
        self.tracker.sent(tx, encoded)
        self.tracker.seal(tx)
        self._producer.poll(0)

    def publish_reads(
        self,
        table: TableId,
        schema: TableSchema,
        rows: Iterable[Row],
        position: Position,
        end: Position,
    ) -> None:
        """A snapshot chunk: rows of ``table`` as snapshot reads (``Op.READ``) at the source
        ``position`` (their ``position`` header), one unit for the tracker whose position is
        ``end`` (the chunk mark). The records are exactly those ``publish`` writes for READ
        events of these rows (key: the schema's key columns of the row; columns not in
        ``schema``, excluded ones, are not written), without building an event for each."""
        topic = self.topic_of(table)
        key_of, value_of = self._serializer.key, self._serializer.value
        records = ((key_of(topic, schema, row), value_of(topic, schema, row)) for row in rows)
        self.publish_encoded(table, records, position, end)

    def publish_encoded(
        self,
        table: TableId,
        records: Iterable[tuple[bytes, bytes | None]],
        position: Position,
        end: Position,
    ) -> None:
        """``publish_reads`` of records already encoded (key and value bytes of the table's
        current schemas): the same headers, one tracker unit whose position is ``end``."""
        tx = self.tracker.begin(end)
        on_delivery = self._on_delivery(tx)
        topic = self.topic_of(table)
        headers = self._event_headers(ChangeEvent(table, Op.READ, None, None, None, position))
        produce = self._producer.produce
        count = 0
        for key, value in records:
            count += 1
            try:
                produce(topic, key=key, value=value, on_delivery=on_delivery, headers=headers)
            except BufferError:
                self._send(topic, key, value, on_delivery, headers)
        # counted once for the chunk: until it is sealed the tracker never takes a chunk for
        # delivered, whatever callbacks ran while it was being produced
        self.tracker.sent(tx, count)
        self.tracker.seal(tx)
        self._producer.poll(0)

    @property
    def serializer(self) -> TableSerializer:
        return self._serializer

    def topic_of(self, table: TableId) -> str:
        """The topic of ``table``'s records."""
        return self._topics.get(table) or self._topic(table)

    def acknowledged(self) -> Position | None:
        """Serve delivery callbacks, then return the position that may be confirmed."""
        self._producer.poll(0)
        return self.tracker.acknowledged()

    def flush(self, timeout: float = 30.0) -> Position | None:
        """Wait for every queued record; return the position that may be confirmed."""
        self._producer.flush(timeout)
        return self.tracker.acknowledged()

    def _on_delivery(self, tx: PendingTransaction) -> Callable[[KafkaError | None, Message], None]:
        """The delivery callback of every record of ``tx`` (one per transaction, not per
        record: at snapshot rates the closures cost more than the counting)."""
        return self.tracker.callback(tx)

    def _row(
        self,
        tx: PendingTransaction,
        on_delivery: Callable[[KafkaError | None, Message], None],
        event: ChangeEvent,
        schema: TableSchema,
        gtid: str | None,
    ) -> None:
        topic = self.topic_of(event.table)
        key = self._serializer.key(topic, schema, event.key or {})
        value = (
            None if event.op is Op.DELETE else self._serializer.value(topic, schema, event.after)
        )
        self._produce(tx, on_delivery, topic, key, value, event, None, gtid)

    def _truncate(
        self,
        tx: PendingTransaction,
        on_delivery: Callable[[KafkaError | None, Message], None],
        event: ChangeEvent,
        gtid: str | None,
    ) -> None:
        """A truncate marker on every partition, so every consumer sees it in order with the
        rows of its partition. Its value is not null (a null would be a tombstone, removed by
        compaction); compaction keeps the newest marker per partition at its offset, so a replay
        from the beginning still clears what came before it."""
        topic = self._topic_for(event.table)
        marker = self._serializer.truncate_marker(str(event.table))
        for partition in range(self._partition_count(topic)):
            self._produce(tx, on_delivery, topic, marker, marker, event, partition, gtid)

    def _produce(
        self,
        tx: PendingTransaction,
        on_delivery: Callable[[KafkaError | None, Message], None],
        topic: str,
        key: bytes | None,
        value: bytes | None,
        event: ChangeEvent,
        partition: int | None,
        gtid: str | None = None,
    ) -> None:
        headers = self._event_headers(event, gtid)
        self.tracker.sent(tx)
        self._send(topic, key, value, on_delivery, headers, partition)

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: Callable[[KafkaError | None, Message], None],
        headers: _Headers,
        partition: int | None = None,
    ) -> None:
        """Hand one record to the producer, waiting for room in its queue when it is full."""
        produce = self._producer.produce
        while True:
            try:
                if partition is None:
                    produce(topic, key=key, value=value, on_delivery=on_delivery, headers=headers)
                else:
                    produce(
                        topic, key=key, value=value, partition=partition,
                        on_delivery=on_delivery, headers=headers,
                    )  # fmt: skip
                return
            except BufferError:  # the local queue is full: serve callbacks to drain it
                self._producer.poll(0.1)

    def _topic(self, table: TableId) -> str:
        topic = self._topics[table] = self._topic_for(table)
        return topic

    def _event_headers(self, event: ChangeEvent, gtid: str | None = None) -> _Headers:
        """The event's headers; the previous record's list again when they would be equal (all
        rows of a snapshot chunk, all changes of one operation in a transaction): the producer
        copies headers, so one list may be handed to it many times."""
        of = (event.op, event.position, event.tx_id, event.commit_ts_us, gtid)
        if of != self._headers_of:
            self._new_headers(of)
        return self._headers

    def _new_headers(self, of: tuple[Op, Position, str | None, int | None, str | None]) -> _Headers:
        """The headers of an event with these (op, position, tx id, commit time, gtid)."""
        op, position, tx_id, commit_ts_us, gtid = of
        event = ChangeEvent(TableId("", ""), op, None, None, None, position, commit_ts_us, tx_id)
        self._headers_of = of
        self._headers = list(event_headers(event, self._position_kind, gtid=gtid))
        return self._headers

    def _partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            metadata = self._producer.list_topics(topic, timeout=30)
            self._partitions[topic] = len(metadata.topics[topic].partitions)
        return self._partitions[topic]
