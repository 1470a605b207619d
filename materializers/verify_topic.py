"""A table topic read as ``strangler verify --table`` compares it: its latest state per key.

The topic is consumed from its beginning to the end offsets of the moment (an unnamed,
uncommitted consumer, assigned to every partition), records decoded by the materializer's own
decoder and converted by its own row shapes (so a line is what a SQLite view would store), the
last record per key winning, a tombstone deleting and a truncate marker clearing its
partition's rows. Re-checks first read what was appended since.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from strangler.core.errors import ServiceUnavailable, StranglerError
from strangler.core.kafka import KafkaSettings, consumer_config
from strangler.materializers.columns import Dialect
from strangler.materializers.config import TopicConfig
from strangler.materializers.records import BadRecord, ChangeRecord, Received
from strangler.materializers.shapes import RowShape, row_shape
from strangler.materializers.tables import TableSpec
from strangler.materializers.verify_canon import NULL, escape, stored_function
from strangler.materializers.verify_readers import BLOCK_ROWS, Key, line_key

log = logging.getLogger(__name__)


class TopicReader:
    """A compacted table topic's latest state, as a consumer rebuilds it: the last record per
    key wins, a tombstone deletes, a truncate marker clears its partition's rows. Records are
    decoded and converted by the materializer's own decoder and row shapes; ``fetch`` first
    reads what was appended since (the re-checks follow the topic)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        registry_url: str,
        topic: str,
        spec: TableSpec,
        order: Callable[[str], Any],
    ) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        from strangler.materializers.decoding import RecordDecoder
        from strangler.materializers.schemas import RegistrySchemas

        self.label, self.topic, self.spec, self._order = f"topic {topic}", topic, spec, order
        group = f"strangler-verify-{uuid.uuid4().hex}"  # never committed: assign, no join
        self._consumer = Consumer(consumer_config(kafka, group))
        try:
            metadata = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            self._consumer.close()
            raise ServiceUnavailable(
                f"{self.label}: Kafka did not answer: {exc}",
                fix="check kafka.bootstrap_servers and that the broker runs",
            ) from exc
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ServiceUnavailable(f"{self.label} cannot be read (no such topic?)")
        self._partitions = sorted(metadata.partitions)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in self._partitions]
        )
        self._decoder = RecordDecoder([TopicConfig(topic=topic)], RegistrySchemas(registry_url))
        self._next = {p: 0 for p in self._partitions}
        self._rows: dict[Key, tuple[int, str]] = {}
        self._shapes: dict[tuple[int, int], RowShape] = {}
        self._stored = [stored_function(c.avro_type) for c in spec.columns]
        self.bad_records = 0
        self._catch_up()

    def _catch_up(self, timeout: float = 60.0) -> None:
        """Read to the end offsets of this moment. The end is reached when the consumer's
        position passes it: a transactional topic's last offsets are commit markers that
        are never delivered, and compaction may have removed the first ones."""
        from confluent_kafka import TopicPartition

        parts = [TopicPartition(self.topic, p) for p in self._partitions]
        ends = {}
        for tp in parts:
            low, ends[tp.partition] = self._consumer.get_watermark_offsets(tp, timeout=10)
            self._next[tp.partition] = max(self._next[tp.partition], low)
        deadline = time.monotonic() + timeout
        while True:
            for tp in self._consumer.position(parts):
                self._next[tp.partition] = max(self._next[tp.partition], tp.offset)
            if all(self._next[p] >= ends[p] for p in self._partitions):
                break
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"{self.label} was not read to its end in {timeout:.0f} s")
            for message in self._consumer.consume(1000, 0.2):
                if message.error() is None:
                    self._apply(self._decoder.decode(message))
        if self.bad_records:
            log.warning("%s: %d record(s) could not be decoded", self.label, self.bad_records)

    def _apply(self, record: Received) -> None:
        if isinstance(record, BadRecord):
            self.bad_records += 1
            return
        if record.is_truncate:
            self._rows = {k: v for k, v in self._rows.items() if v[0] != record.partition}
            return
        assert record.key is not None and record.key_schema is not None  # not a truncate
        shape = self._shape(record)
        if record.value is None:
            self._rows.pop(self._key(shape.key_params(record.key)), None)
            return
        values = shape.params(record.key, record.value)
        line = self._line(values)
        self._rows[line_key(line, len(self.spec.key))] = (record.partition, line)

    def _shape(self, record: ChangeRecord) -> RowShape:
        assert record.key_schema is not None  # not a truncate
        value_id = record.value_schema.id if record.value_schema else -1
        ids = (record.key_schema.id, value_id)
        shape = self._shapes.get(ids)
        if shape is None:
            value = record.value_schema.schema if record.value_schema else None
            shape = row_shape(self.spec, Dialect.SQLITE, record.key_schema.schema, value, None)
            self._shapes[ids] = shape
        return shape

    def _texts(self, values: Sequence[Any]) -> list[str]:
        texts = [f(v) for f, v in zip(self._stored, values, strict=False)]
        return [NULL if t is None else escape(t) for t in texts]

    def _line(self, values: Sequence[Any]) -> str:
        return "\t".join(self._texts(values))

    def _key(self, values: Sequence[Any]) -> Key:
        return tuple(self._texts(values))

    def count(self) -> int:
        return len(self._rows)

    def lines(self) -> Iterator[list[str]]:
        ordered = sorted((line for _p, line in self._rows.values()), key=self._order)
        for start in range(0, len(ordered), BLOCK_ROWS):
            yield ordered[start : start + BLOCK_ROWS]

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        self._catch_up()
        return {k: self._rows[k][1] for k in keys if k in self._rows}

    def close(self) -> None:
        self._consumer.close()


def latest_spec(registry_url: str, topic_config: TopicConfig) -> TableSpec:
    """The table a topic's latest key and value schemas describe, projected and renamed as
    ``topic_config`` says."""
    from strangler.materializers.tables import table_spec
    from strangler.schema_registry.client import RegistryClient, RegistryRequestFailed

    topic = topic_config.topic
    client = RegistryClient(registry_url)
    try:
        key = json.loads(client.latest(f"{topic}-key")[2])
        value = json.loads(client.latest(f"{topic}-value")[2])
    except RegistryRequestFailed as exc:
        if exc.retriable:
            raise ServiceUnavailable(f"schema registry: {exc}") from exc
        raise StranglerError(
            f"topic {topic} has no key and value schemas in the registry: {exc}",
            fix="run the pipeline's connector (strangler connect) so the table is published",
        ) from exc
    finally:
        client.close()
    return table_spec(topic_config, key, value)
