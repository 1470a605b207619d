"""Table rows to Confluent wire-format Avro: magic byte 0, the 4-byte schema id, Avro binary.

Schemas are registered under ``<topic>-key`` and ``<topic>-value`` the first time a table schema
is used. The registry checks compatibility at that moment, so an incompatible change fails here,
before any record of the new shape reaches Kafka.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro

from strangler.core.events import Row
from strangler.core.schema import TableSchema, key_record, key_schema, value_record, value_schema

MAGIC = 0

# Compacted topics refuse records without a key, and drop a null value (a tombstone) after
# delete.retention.ms, so a truncate marker has both a key and a value: records of their own
# small schema (registered under its own subject, never under <topic>-key/-value), which any
# Confluent deserializer can still decode; the ``op`` header (t) says what it is.
TRUNCATE_SUBJECT = "strangler.TruncateMarker"
TRUNCATE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "TruncateMarker",
    "namespace": "strangler",
    "doc": "Key of a truncate marker: every row of the table before it was removed.",
    "fields": [{"name": "table", "type": "string"}],
}


class SchemaRegistrar(Protocol):
    """What serialization needs of a registry client."""

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent); return its id."""
        ...


@dataclass(frozen=True, slots=True)
class _Encoder:
    schema_id: int
    parsed: Any

    def encode(self, record: Mapping[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(struct.pack(">bI", MAGIC, self.schema_id))
        fastavro.schemaless_writer(out, self.parsed, record)
        return out.getvalue()


class TableSerializer:
    """Encodes keys and rows of table topics; caches one encoder per (topic, schema)."""

    def __init__(self, registrar: SchemaRegistrar, namespace: str) -> None:
        self._registrar = registrar
        self._namespace = namespace
        self._encoders: dict[tuple[str, str, str], _Encoder] = {}

    def key(self, topic: str, table: TableSchema, key: Row) -> bytes:
        encoder = self._encoder(topic, "key", key_schema(table, self._namespace))
        return encoder.encode(key_record(table, key))

    def value(self, topic: str, table: TableSchema, row: Row | None) -> bytes | None:
        """The row as Avro; ``None`` (a delete) stays ``None``, a tombstone."""
        if row is None:
            return None
        encoder = self._encoder(topic, "value", value_schema(table, self._namespace))
        return encoder.encode(value_record(table, row))

    def truncate_marker(self, table: str) -> bytes:
        """Key and value of a truncate marker for ``table`` (schema.table)."""
        encoder = self._encoder(TRUNCATE_SUBJECT, "", TRUNCATE_SCHEMA)
        return encoder.encode({"table": table})

    def prepare(self, topic: str, table: TableSchema) -> None:
        """Register both schemas now (so an incompatible change is refused up front)."""
        self._encoder(topic, "key", key_schema(table, self._namespace))
        self._encoder(topic, "value", value_schema(table, self._namespace))

    def _encoder(self, topic: str, part: str, schema: dict[str, Any]) -> _Encoder:
        text = json.dumps(schema, sort_keys=True)
        cache_key = (topic, part, text)
        encoder = self._encoders.get(cache_key)
        if encoder is None:
            subject = f"{topic}-{part}" if part else topic
            schema_id = self._registrar.register(subject, schema)
            encoder = _Encoder(schema_id, fastavro.parse_schema(schema))
            self._encoders[cache_key] = encoder
        return encoder
