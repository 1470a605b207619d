"""Avro serializer and deserializer in Confluent's wire format, for strangler's producers.

A record is ``0x00`` (magic), the schema id as 4 bytes big-endian, then Avro binary (fastavro).
Both are callables ``(obj, ctx) -> ...`` like confluent-kafka's; ``None`` passes through in
both directions, so a delete stays a tombstone. Subjects follow the topic name strategy
(``<topic>-key`` / ``<topic>-value``), so any standard consumer can read what we write.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any, Protocol

import fastavro

from strangler.core.errors import StranglerError
from strangler.schema_registry.client import RegistryClient
from strangler.schema_registry.model import SchemaId

MAGIC = 0
HEADER = struct.Struct(">bI")


class SerdeContext(Protocol):
    """What a serializer needs to know (confluent-kafka's ``SerializationContext`` fits)."""

    @property
    def topic(self) -> str: ...

    @property
    def field(self) -> str: ...


class SerdeError(StranglerError):
    """Bytes that are not a Confluent-framed Avro record, or a value that does not fit."""


def subject_for(ctx: SerdeContext) -> str:
    """Confluent's TopicNameStrategy."""
    return f"{ctx.topic}-{ctx.field}"


class AvroSerializer:
    """Registers its schema (once per subject) and frames each value with the id."""

    def __init__(self, client: RegistryClient, schema: str) -> None:
        self._client = client
        self._schema_text = schema
        self._parsed = fastavro.parse_schema(json.loads(schema))
        self._ids: dict[str, SchemaId] = {}

    def __call__(self, obj: Any, ctx: SerdeContext) -> bytes | None:
        if obj is None:
            return None
        subject = subject_for(ctx)
        schema_id = self._ids.get(subject)
        if schema_id is None:
            schema_id = self._ids[subject] = self._client.register(subject, self._schema_text)
        return frame(schema_id, self._parsed, obj)


class AvroDeserializer:
    """Reads the id, fetches that writer schema (cached), resolves to ``reader`` if given."""

    def __init__(self, client: RegistryClient, reader: str | None = None) -> None:
        self._client = client
        self._reader = None if reader is None else fastavro.parse_schema(json.loads(reader))
        self._writers: dict[SchemaId, Any] = {}

    def __call__(self, data: bytes | None, ctx: SerdeContext) -> Any:
        if data is None:
            return None
        schema_id, body = unframe(data)
        writer = self._writer(schema_id)
        try:
            return fastavro.schemaless_reader(io.BytesIO(body), writer, self._reader)
        except (ValueError, EOFError, IndexError, StopIteration) as exc:
            raise SerdeError(
                f"record for {ctx.topic} ({ctx.field}) is not valid for schema {schema_id}: {exc}"
            ) from exc

    def _writer(self, schema_id: SchemaId) -> Any:
        if schema_id not in self._writers:
            text = self._client.schema_by_id(schema_id)
            self._writers[schema_id] = fastavro.parse_schema(json.loads(text.schema))
        return self._writers[schema_id]


def frame(schema_id: SchemaId, parsed: Any, obj: Any) -> bytes:
    out = io.BytesIO()
    out.write(HEADER.pack(MAGIC, schema_id))
    try:
        fastavro.schemaless_writer(out, parsed, obj)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SerdeError(f"value does not fit schema {schema_id}: {exc}") from exc
    return out.getvalue()


def unframe(data: bytes) -> tuple[SchemaId, bytes]:
    if len(data) < HEADER.size:
        raise SerdeError(f"record of {len(data)} bytes is too short for the Confluent header")
    magic, schema_id = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SerdeError(f"unknown magic byte {magic}; expected 0 (Confluent wire format)")
    return SchemaId(schema_id), data[HEADER.size :]
