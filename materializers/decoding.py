"""Kafka records of table topics → ``ChangeRecord`` (or ``BadRecord``).

Wire format (Confluent): magic byte 0, the schema id as 4 bytes big-endian, then Avro binary.
Headers read: ``op`` (c/u/d/r/t; without it, a null value is a delete and anything else an
upsert), ``position`` (required, text), ``position_kind`` (optional, see ``positions``).
A truncate (``op`` = ``t``) needs neither key nor value. Anything that cannot be read this way
becomes a ``BadRecord`` naming the reason; it is never dropped silently.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import fastavro

from strangler.core.events import Op
from strangler.materializers.config import TopicConfig
from strangler.materializers.errors import RecordError
from strangler.materializers.positions import PositionError, PositionKind, sort_key
from strangler.materializers.records import BadRecord, ChangeRecord, Received, WriterSchema
from strangler.materializers.schemas import SchemaSource

_HEADER = struct.Struct(">bI")

_OPS = {op.value: op for op in Op}

HeaderValue = str | bytes | None
Headers = dict[str, HeaderValue] | list[tuple[str, HeaderValue]] | None
"""Kafka headers as confluent-kafka hands them over."""


class KafkaRecord(Protocol):
    """What is read of a Kafka message (``confluent_kafka.Message`` has these)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> Headers: ...


def wire_header(data: bytes) -> int:
    """The schema id of a Confluent-framed payload; ``RecordError`` if not framed."""
    if len(data) < _HEADER.size:
        raise RecordError(f"{len(data)} bytes is too short for the Confluent wire format")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != 0:
        raise RecordError(f"magic byte {magic} is not 0: not Confluent wire format")
    return int(schema_id)


def header_map(headers: Headers) -> dict[str, str]:
    """Headers as text; for a repeated header the last one wins."""
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    found: dict[str, str] = {}
    for name, raw in pairs:
        if isinstance(raw, bytes):
            found[name] = raw.decode("utf-8", errors="replace")
        elif raw is not None:
            found[name] = raw
    return found


class RecordDecoder:
    """Decodes the records of a view's topics with writer schemas from a ``SchemaSource``."""

    def __init__(self, topics: Sequence[TopicConfig], schemas: SchemaSource) -> None:
        self._kinds = {t.topic: t.position_kind for t in topics}
        self._schemas = schemas
        self._parsed: dict[int, tuple[WriterSchema, Any]] = {}
        self._last_position: tuple[tuple[str, str, str | None] | None, bytes] = (None, b"")

    def decode(self, record: KafkaRecord) -> Received:
        """The decoded record, or a ``BadRecord`` saying why it could not be decoded."""
        try:
            return self._decode(record)
        except (RecordError, PositionError) as exc:
            return self._bad(record, exc.message)
        except (ValueError, TypeError, EOFError, IndexError, KeyError) as exc:
            return self._bad(record, f"cannot decode: {exc!r}")

    def _bad(self, record: KafkaRecord, error: str) -> BadRecord:
        topic, partition, offset = record.topic() or "", record.partition(), record.offset()
        return BadRecord(topic, partition or 0, offset or 0, error, record.key(), record.value())

    def _decode(self, record: KafkaRecord) -> ChangeRecord:
        topic = record.topic() or ""
        headers = header_map(record.headers())
        op = self._op(headers, record.value())
        position = self._position(topic, headers)
        place = (topic, record.partition() or 0, record.offset() or 0)
        if op is Op.TRUNCATE:
            return ChangeRecord(*place, op, position, None, None)
        raw_key = record.key()
        if raw_key is None:
            raise RecordError(f"a {op.name.lower()} record has no key")
        key_schema, key = self._read(raw_key)
        raw_value = record.value()
        if raw_value is None:
            return ChangeRecord(*place, op, position, key, None, key_schema, None)
        value_schema, value = self._read(raw_value)
        return ChangeRecord(*place, op, position, key, value, key_schema, value_schema)

    def _op(self, headers: Mapping[str, str], value: bytes | None) -> Op:
        text = headers.get("op")
        if text is None:
            return Op.UPDATE if value is not None else Op.DELETE
        op = _OPS.get(text)
        if op is None:
            raise RecordError(f"header op={text!r} is not one of c, u, d, r, t")
        return op

    def _position(self, topic: str, headers: Mapping[str, str]) -> bytes:
        text = headers.get("position")
        if text is None:
            raise RecordError("the record has no position header")
        kind_text = headers.get("position_kind")
        memo = (topic, text, kind_text)
        if memo == self._last_position[0]:  # every change of a transaction shares it
            return self._last_position[1]
        key = self._sort_key(topic, text, kind_text)
        self._last_position = (memo, key)
        return key

    def _sort_key(self, topic: str, text: str, kind_text: str | None) -> bytes:
        try:
            kind = PositionKind(kind_text) if kind_text else self._kinds[topic]
        except ValueError:
            raise RecordError(f"header position_kind={kind_text!r} is not known") from None
        return sort_key(kind, text)

    def _read(self, data: bytes) -> tuple[WriterSchema, dict[str, Any]]:
        framed = len(data) >= _HEADER.size and data[0] == 0
        schema_id = int.from_bytes(data[1:5], "big") if framed else wire_header(data)
        cached = self._parsed.get(schema_id)
        if cached is None:
            raw = self._schemas.schema(schema_id)
            cached = (WriterSchema(schema_id, raw), fastavro.parse_schema(dict(raw)))
            self._parsed[schema_id] = cached
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        decoded = fastavro.schemaless_reader(body, cached[1], None)
        if not isinstance(decoded, dict):
            raise RecordError(f"schema {schema_id} is not a record schema")
        if body.tell() != len(data):  # a foreign or corrupt payload that happened to parse
            raise RecordError(f"{len(data) - body.tell()} bytes left after schema {schema_id}")
        return cached[0], decoded


def encode(schema_id: int, parsed_schema: Any, record: Mapping[str, Any]) -> bytes:
    """A record in the Confluent wire format (for tools and tests)."""
    out = io.BytesIO()
    out.write(_HEADER.pack(0, schema_id))
    fastavro.schemaless_writer(out, parsed_schema, dict(record))
    return out.getvalue()
