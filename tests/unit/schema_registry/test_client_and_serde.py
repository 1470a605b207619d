"""Our client and serdes against our server, and byte-for-byte against confluent-kafka's."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry import avro as confluent_avro
from confluent_kafka.serialization import MessageField, SerializationContext

from strangler.schema_registry.client import RegistryClient, RegistryRequestFailed
from strangler.schema_registry.model import CompatibilityLevel, SchemaId
from strangler.schema_registry.serde import AvroDeserializer, AvroSerializer, SerdeError, unframe
from strangler.schema_registry.server import ServerThread

pytestmark = pytest.mark.unit

ORDER = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"}],
    }
)
ORDER_V2 = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "item", "type": "string"},
            {"name": "qty", "type": "int", "default": 1},
        ],
    }
)


@dataclass(frozen=True)
class Ctx:
    topic: str
    field: str = "value"


def test_serializer_frames_and_tombstones_stay_none(server: ServerThread) -> None:
    client = RegistryClient(server.url)
    serialize = AvroSerializer(client, ORDER)
    data = serialize({"id": 7, "item": "tea"}, Ctx("orders"))
    assert data is not None and data[:5] == b"\x00\x00\x00\x00\x01"
    assert serialize(None, Ctx("orders")) is None
    assert AvroDeserializer(client)(data, Ctx("orders")) == {"id": 7, "item": "tea"}
    assert AvroDeserializer(client)(None, Ctx("orders")) is None


def test_bytes_equal_confluents_and_each_reads_the_other(server: ServerThread) -> None:
    ours = AvroSerializer(RegistryClient(server.url), ORDER)
    theirs_client = SchemaRegistryClient({"url": server.url})
    theirs = confluent_avro.AvroSerializer(theirs_client, ORDER)
    ctx = SerializationContext("orders", MessageField.VALUE)
    record = {"id": 1, "item": "x"}
    assert ours(record, ctx) == theirs(record, ctx)
    assert confluent_avro.AvroDeserializer(theirs_client)(ours(record, ctx), ctx) == record


def test_reader_schema_resolves_older_records(server: ServerThread) -> None:
    client = RegistryClient(server.url)
    old = AvroSerializer(client, ORDER)({"id": 1, "item": "x"}, Ctx("o"))
    assert AvroDeserializer(client, reader=ORDER_V2)(old, Ctx("o")) == {
        "id": 1,
        "item": "x",
        "qty": 1,
    }


def test_client_errors_keep_confluent_codes(server: ServerThread) -> None:
    client = RegistryClient(server.url)
    client.register("s", ORDER)
    with pytest.raises(RegistryRequestFailed) as missing:
        client.schema_by_id(SchemaId(99))
    assert (missing.value.status, missing.value.error_code, missing.value.retriable) == (
        404,
        40403,
        False,
    )
    assert client.is_compatible("s", ORDER_V2) == (True, [])
    client.set_level("s", CompatibilityLevel.FORWARD)
    compatible, messages = client.is_compatible("s", json.dumps({"type": "string"}))
    assert not compatible and messages
    assert client.latest("s")[1] == 1


def test_client_retries_then_reports_unreachable() -> None:
    client = RegistryClient("http://127.0.0.1:9", max_retries=2, backoff_s=0.001, timeout=0.5)
    with pytest.raises(RegistryRequestFailed) as failed:
        client.schema_by_id(SchemaId(1))
    assert failed.value.retriable and failed.value.status == 0


def test_bad_frames_are_refused() -> None:
    with pytest.raises(SerdeError):
        unframe(b"\x00\x00")
    with pytest.raises(SerdeError):
        unframe(b"\x01\x00\x00\x00\x01\x02")
