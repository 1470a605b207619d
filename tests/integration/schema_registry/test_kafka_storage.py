"""The ``_schemas`` topic storage against a real Kafka broker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from strangler.schema_registry.errors import StoreError
from strangler.schema_registry.kafka_storage import KafkaStorage
from strangler.schema_registry.model import CompatibilityLevel, SchemaId, Subject
from strangler.schema_registry.registry import SchemaRegistry, SchemaRequest

pytestmark = pytest.mark.integration

USER_V1 = json.dumps({"type": "record", "name": "User", "fields": [{"name": "id", "type": "long"}]})
USER_V2 = json.dumps(
    {
        "type": "record",
        "name": "User",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "email", "type": ["null", "string"], "default": None},
        ],
    }
)


@pytest.fixture
def log_topic(topic_name: str) -> str:
    return f"_schemas-{topic_name}"


@pytest.fixture
def registry(kafka_bootstrap: str, log_topic: str) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(KafkaStorage(kafka_bootstrap, log_topic))
    yield reg
    reg.close()


def raw_records(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "raw-reader", "enable.auto.commit": False}
    )
    _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, 0)])
    found: list[tuple[bytes, bytes | None]] = []
    while len(found) < high:
        message = consumer.poll(5)
        assert message is not None, "topic ended early"
        assert message.error() is None
        found.append((message.key() or b"", message.value()))
    consumer.close()
    return found


def test_topic_is_created_compacted_with_one_partition(
    registry: SchemaRegistry, kafka_bootstrap: str, log_topic: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert len(admin.list_topics(log_topic, timeout=10).topics[log_topic].partitions) == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, log_topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["cleanup.policy"].value == "compact"


def test_records_are_byte_compatible_with_confluent(
    registry: SchemaRegistry, kafka_bootstrap: str, log_topic: str
) -> None:
    registry.register(Subject("users-value"), SchemaRequest(USER_V1))
    registry.set_level(Subject("users-value"), CompatibilityLevel.FULL)
    registry.delete_subject(Subject("users-value"))
    records = raw_records(kafka_bootstrap, log_topic)
    assert records[0][0] == b'{"keytype":"SCHEMA","subject":"users-value","version":1,"magic":1}'
    value = json.loads(records[0][1] or b"")
    assert value == {
        "subject": "users-value",
        "version": 1,
        "id": 1,
        "schema": '{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}',
        "deleted": False,
    }
    assert records[1] == (
        b'{"keytype":"CONFIG","subject":"users-value","magic":0}',
        b'{"compatibilityLevel":"FULL"}',
    )
    assert records[2] == (
        b'{"keytype":"DELETE_SUBJECT","subject":"users-value","magic":0}',
        b'{"subject":"users-value","version":1}',
    )


def test_restart_loses_nothing(kafka_bootstrap: str, log_topic: str) -> None:
    first = SchemaRegistry(KafkaStorage(kafka_bootstrap, log_topic))
    v1 = first.register(Subject("a-value"), SchemaRequest(USER_V1))
    v2 = first.register(Subject("a-value"), SchemaRequest(USER_V2))
    first.register(Subject("b-value"), SchemaRequest(USER_V1))
    first.delete_version(Subject("a-value"), v2.version)
    first.close()
    second = SchemaRegistry(KafkaStorage(kafka_bootstrap, log_topic))
    try:
        assert second.subjects() == ["a-value", "b-value"]
        assert second.schema_by_id(v2.schema_id).schema.startswith('{"type":"record"')
        assert [e.version for e in second.live_versions(Subject("a-value"))] == [v1.version]
        assert second.register(Subject("c-value"), SchemaRequest(USER_V2)).schema_id == v2.schema_id
        assert second.view.max_id == 2
    finally:
        second.close()


def test_two_instances_on_one_topic_agree_on_ids(kafka_bootstrap: str, log_topic: str) -> None:
    one = SchemaRegistry(KafkaStorage(kafka_bootstrap, log_topic))
    two = SchemaRegistry(KafkaStorage(kafka_bootstrap, log_topic))
    try:
        a = one.register(Subject("x-value"), SchemaRequest(USER_V1))
        b = two.register(Subject("y-value"), SchemaRequest(USER_V2))  # two syncs before deciding
        c = two.register(Subject("z-value"), SchemaRequest(USER_V1))
        assert (a.schema_id, b.schema_id, c.schema_id) == (SchemaId(1), SchemaId(2), SchemaId(1))
        one._storage.sync()
        assert one.schema_by_id(b.schema_id) == two.schema_by_id(b.schema_id)
        assert one.subjects() == two.subjects() == ["x-value", "y-value", "z-value"]
    finally:
        one.close()
        two.close()


def test_a_log_topic_that_is_not_compacted_is_refused(kafka_bootstrap: str, log_topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(log_topic, 1, 1, config={"cleanup.policy": "delete"})])[
        log_topic
    ].result(30)
    with pytest.raises(StoreError, match="must be compacted"):
        KafkaStorage(kafka_bootstrap, log_topic)


def test_a_log_topic_with_several_partitions_is_refused(
    kafka_bootstrap: str, log_topic: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(log_topic, 2, 1, config={"cleanup.policy": "compact"})])[
        log_topic
    ].result(30)
    with pytest.raises(StoreError, match="exactly 1"):
        KafkaStorage(kafka_bootstrap, log_topic)
