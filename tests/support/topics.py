"""Reading a compacted table topic back as a table, the way a consumer would, and comparing it
with the source table: Confluent's AvroDeserializer with the subject's latest value schema as
reader schema; later records win per key, tombstones delete, and a truncate marker (header
op=t, one on every partition) clears the rows of its own partition."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from strangler.core.events import TableId
from strangler.core.headers import header_value
from tests.support.kafka import consume_all

Rows = dict[str, dict[str, Any]]
"""Key (canonical JSON of the key record) → value record."""


def canonical(record: Any) -> str:
    """A key record as text that compares equal exactly when the records do."""
    return json.dumps(record, sort_keys=True, default=str)


def latest_value_schema(registry: str, subject: str) -> str:
    """The latest schema registered under ``subject`` (any subject, despite the name)."""
    client = SchemaRegistryClient({"url": registry})
    return str(client.get_latest_version(subject).schema.schema_str)


def topic_rows(bootstrap: str, registry: str, topic: str) -> Rows:
    """The table a consumer rebuilds from ``topic`` (partitions are read in no particular order
    relative to each other, so a truncate marker only clears its own partition's rows)."""
    client = SchemaRegistryClient({"url": registry})
    keys = AvroDeserializer(client)
    values = AvroDeserializer(client, latest_value_schema(registry, f"{topic}-value"))
    rows: dict[str, tuple[int, Any]] = {}
    for message in consume_all(bootstrap, topic, expect=0):
        partition = message.partition() or 0
        if header_value(message.headers(), "op") == "t":
            rows = {k: v for k, v in rows.items() if v[0] != partition}
            continue
        key = canonical(keys(message.key(), SerializationContext(topic, MessageField.KEY)))
        value = message.value()
        if value is None:
            rows.pop(key, None)
        else:
            record = values(value, SerializationContext(topic, MessageField.VALUE))
            rows[key] = (partition, record)
    return {k: v[1] for k, v in rows.items()}


def assert_same_rows(table: TableId, want: Rows, got: Rows) -> None:
    """The topic's rows equal the table's: same keys, same values (a few examples if not)."""
    missing = sorted(set(want) - set(got))[:3]
    extra = sorted(set(got) - set(want))[:3]
    assert not missing and not extra, f"{table}: missing keys {missing}, extra keys {extra}"
    differing = [k for k in want if want[k] != got[k]][:3]
    assert not differing, f"{table}: rows differ, e.g. {[(want[k], got[k]) for k in differing]}"
