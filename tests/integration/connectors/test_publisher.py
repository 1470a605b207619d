"""Change events to table topics on the real broker, schemas in our registry (the stack's, on
Kafka storage); read back with Confluent's own deserializer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from strangler.connectors.publisher import Publisher
from strangler.connectors.serialization import TableSerializer
from strangler.connectors.topics import ensure_compacted_topics
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.headers import header_value
from strangler.core.kafka import KafkaSettings, producer_config
from strangler.core.schema import Column, TableSchema
from tests.support.kafka import consume_all
from tests.unit.connectors.test_acks import Seq

pytestmark = pytest.mark.integration

TABLE = TableId("shop", "products")
SCHEMA = TableSchema(
    TABLE, (Column("id", "long", nullable=False), Column("name", "string")), key=("id",)
)


class ConfluentRegistrar:
    """Registers through Confluent's client, as any other tool would."""

    def __init__(self, url: str) -> None:
        self.client = SchemaRegistryClient({"url": url})

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        return self.client.register_schema(subject, Schema(json.dumps(schema), "AVRO"))


def make_publisher(bootstrap: str, url: str, topic: str) -> tuple[Publisher, Producer]:
    producer = Producer(producer_config(KafkaSettings(bootstrap_servers=bootstrap)))
    serializer = TableSerializer(ConfluentRegistrar(url), namespace="strangler")
    return Publisher(producer, serializer, lambda _t: topic, "integer"), producer


def event(op: Op, key: int, name: str | None, pos: int) -> ChangeEvent:
    after = None if op is Op.DELETE else {"id": key, "name": name}
    return ChangeEvent(TABLE, op, {"id": key}, None, after, Seq(pos), tx_id=str(pos))


def test_rows_and_tombstones_readable_by_confluent_deserializer(
    kafka_bootstrap: str, registry_url: str, topic_name: str
) -> None:
    ensure_compacted_topics(
        AdminClient({"bootstrap.servers": kafka_bootstrap}),
        [topic_name],
        partitions=1,
        replication_factor=1,
    )
    publisher, _ = make_publisher(kafka_bootstrap, registry_url, topic_name)
    publisher.publish(
        [event(Op.CREATE, 1, "lamp", 10), event(Op.CREATE, 2, "desk", 10)], {TABLE: SCHEMA}, Seq(10)
    )
    publisher.publish(
        [event(Op.UPDATE, 1, "lamp v2", 20), event(Op.DELETE, 2, None, 20)],
        {TABLE: SCHEMA},
        Seq(20),
    )
    assert publisher.flush() == Seq(20)

    messages = consume_all(kafka_bootstrap, topic_name, expect=4)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    rows = [
        deserializer(m.value(), SerializationContext(topic_name, MessageField.VALUE))
        for m in messages
    ]
    keys = [
        deserializer(m.key(), SerializationContext(topic_name, MessageField.KEY)) for m in messages
    ]
    assert keys == [{"id": 1}, {"id": 2}, {"id": 1}, {"id": 2}]
    assert rows == [
        {"id": 1, "name": "lamp"},
        {"id": 2, "name": "desk"},
        {"id": 1, "name": "lamp v2"},
        None,
    ]
    assert [header_value(m.headers(), "op") for m in messages] == ["c", "c", "u", "d"]
    assert [header_value(m.headers(), "position") for m in messages] == ["10", "10", "20", "20"]


def test_truncate_marker_reaches_every_partition(
    kafka_bootstrap: str, registry_url: str, topic_name: str
) -> None:
    ensure_compacted_topics(
        AdminClient({"bootstrap.servers": kafka_bootstrap}),
        [topic_name],
        partitions=3,
        replication_factor=1,
    )
    publisher, _ = make_publisher(kafka_bootstrap, registry_url, topic_name)
    truncate = ChangeEvent(TABLE, Op.TRUNCATE, None, None, None, Seq(5))
    publisher.publish([truncate], {}, Seq(5))
    assert publisher.flush() == Seq(5)
    messages = consume_all(kafka_bootstrap, topic_name, expect=3)
    assert sorted(m.partition() or 0 for m in messages) == [0, 1, 2]
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    for field in (MessageField.KEY, MessageField.VALUE):
        decoded = [
            deserializer(
                m.key() if field == MessageField.KEY else m.value(),
                SerializationContext(topic_name, field),
            )
            for m in messages
        ]
        assert decoded == [{"table": "shop.products"}] * 3  # the value too: never a tombstone
    assert {header_value(m.headers(), "op") for m in messages} == {"t"}


def test_incompatible_schema_change_publishes_nothing(
    kafka_bootstrap: str, registry_url: str, topic_name: str
) -> None:
    ensure_compacted_topics(
        AdminClient({"bootstrap.servers": kafka_bootstrap}),
        [topic_name],
        partitions=1,
        replication_factor=1,
    )
    publisher, _ = make_publisher(kafka_bootstrap, registry_url, topic_name)
    publisher.publish([event(Op.CREATE, 1, "lamp", 1)], {TABLE: SCHEMA}, Seq(1))
    assert publisher.flush() == Seq(1)
    # a NOT NULL column without a default cannot be read from old records: BACKWARD refuses it
    changed = TableSchema(
        TABLE, (*SCHEMA.columns, Column("sku", "string", nullable=False)), key=("id",)
    )
    new_row = ChangeEvent(
        TABLE, Op.CREATE, {"id": 2}, None, {"id": 2, "name": "x", "sku": "s"}, Seq(2)
    )
    with pytest.raises(SchemaRegistryError) as info:
        publisher.publish([new_row], {TABLE: changed}, Seq(2))
    assert info.value.http_status_code == 409
    assert publisher.flush() == Seq(1)  # the position did not move past the refused change
    assert len(consume_all(kafka_bootstrap, topic_name, expect=1)) == 1
