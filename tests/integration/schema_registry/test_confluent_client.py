"""confluent-kafka's own SchemaRegistryClient and Avro serdes, unchanged, against our registry
(on the ``_schemas`` topic storage) and a real Kafka topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from strangler.schema_registry.app import create_app
from strangler.schema_registry.kafka_storage import KafkaStorage
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.server import ServerThread

pytestmark = pytest.mark.integration

V1 = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}],
}
V2 = {
    **V1,
    "fields": [*V1["fields"], {"name": "note", "type": ["null", "string"], "default": None}],
}
BROKEN = {**V1, "fields": [*V1["fields"], {"name": "qty", "type": "int"}]}


@pytest.fixture
def registry_url(kafka_bootstrap: str, topic_name: str) -> Iterator[str]:
    registry = SchemaRegistry(KafkaStorage(kafka_bootstrap, f"_schemas-{topic_name}"))
    server = ServerThread(create_app(registry)).start()
    yield server.url
    server.stop()
    registry.close()


def create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)


def produce(
    bootstrap: str, topic: str, serializer: AvroSerializer, value: dict[str, Any] | None
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    context = SerializationContext(topic, MessageField.VALUE)
    payload = None if value is None else serializer(value, context)
    producer.produce(topic, payload, key=b"k")
    assert producer.flush(30) == 0


def consume_all(bootstrap: str, topic: str, count: int, client: SchemaRegistryClient) -> list[Any]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    deserializer = AvroDeserializer(client)
    found: list[Any] = []
    for _ in range(200):
        message = consumer.poll(0.5)
        if message is None or message.error() is not None:
            continue
        value = message.value()
        found.append(
            None
            if value is None
            else deserializer(value, SerializationContext(topic, MessageField.VALUE))
        )
        if len(found) == count:
            break
    consumer.close()
    return found


def test_produce_consume_evolve_refuse_delete_reregister(
    registry_url: str, kafka_bootstrap: str, topic_name: str
) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    subject = f"{topic_name}-value"
    create_topic(kafka_bootstrap, topic_name)
    produce(kafka_bootstrap, topic_name, AvroSerializer(client, json.dumps(V1)), {"id": 1})
    produce(
        kafka_bootstrap, topic_name, AvroSerializer(client, json.dumps(V2)), {"id": 2, "note": "hi"}
    )
    produce(kafka_bootstrap, topic_name, AvroSerializer(client, json.dumps(V2)), None)  # tombstone
    assert consume_all(kafka_bootstrap, topic_name, 3, client) == [
        {"id": 1},
        {"id": 2, "note": "hi"},
        None,
    ]
    assert client.get_versions(subject) == [1, 2]

    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(BROKEN), "AVRO"))
    assert refused.value.http_status_code == 409
    assert refused.value.error_code == 409

    assert client.delete_subject(subject) == [1, 2]
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert client.get_subjects() == []
    new_id = client.register_schema(subject, Schema(json.dumps(BROKEN), "AVRO"))
    assert new_id == 3
    assert client.get_latest_version(subject).version == 1


def test_client_calls_used_by_tools(registry_url: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    schema_id = client.register_schema("orders-value", Schema(json.dumps(V1), "AVRO"))
    assert client.get_schema(schema_id).schema_str == json.dumps(V1, separators=(",", ":"))
    assert client.lookup_schema("orders-value", Schema(json.dumps(V1), "AVRO")).version == 1
    assert client.test_compatibility("orders-value", Schema(json.dumps(V2), "AVRO"))
    assert not client.test_compatibility("orders-value", Schema(json.dumps(BROKEN), "AVRO"))
    assert client.set_compatibility("orders-value", "FULL") == {"compatibility": "FULL"}  # type: ignore[comparison-overlap]
    assert client.get_compatibility("orders-value") == "FULL"
    assert client.get_subjects_by_schema_id(schema_id) == ["orders-value"]
    assert client.get_schema_types() == ["AVRO"]
    assert client.get_version("orders-value", 1).schema_id == schema_id
