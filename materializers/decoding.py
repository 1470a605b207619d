"""Kafka records of table topics → ``ChangeRecord`` (or ``BadRecord``).

Wire format (Confluent): magic byte 0, the schema id as 4 bytes big-endian, then Avro binary.
Headers read: ``op`` (c/u/d/r/t; without it, a null value is a delete and anything else an
upsert), ``position`` (required, text), ``position_kind`` (optional, see ``positions``).
A truncate (``op`` = ``t``) needs neither key nor value. Anything that cannot be read this way
becomes a ``BadRecord`` naming the reason; it is never dropped silently.

The common case (list headers, a plain LSN or a position this module reads, schemas the native
reader handles) is decoded in C (``native``, ``_speedups.c``); anything else, errors included,
takes the Python path below, which then gives exactly what it always gave.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import fastavro

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers.avro_reader import Reader, compile_reader
from strangler.materializers.config import TopicConfig
from strangler.materializers.errors import RecordError
from strangler.materializers.native import native_reader
from strangler.materializers.positions import PositionError, PositionKind, sort_key
from strangler.materializers.records import BadRecord, ChangeRecord, Received, WriterSchema
from strangler.materializers.schemas import SchemaSource

_HEADER = struct.Struct(">bI")
PG_LSN = PositionKind.PG_LSN

_OPS: dict[str | bytes, Op] = {op.value: op for op in Op}
_OPS.update({op.value.encode(): op for op in Op})

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


def _wanted(headers: Headers) -> tuple[HeaderValue, HeaderValue, HeaderValue]:
    """The raw ``op``, ``position`` and ``position_kind`` headers (last one wins), in one pass
    without building a map: this runs for every record."""
    op = position = kind = None
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    for name, raw in pairs:
        if raw is None:
            continue
        if name == "op":
            op = raw
        elif name == "position":
            position = raw
        elif name == "position_kind":
            kind = raw
    return op, position, kind


def _lsn(raw: HeaderValue) -> bytes | None:
    """The sort key of a plain ``16/B374D848`` LSN header (bytes), else None: then
    ``positions.sort_key`` reads it (or says why it cannot). A fast path for every record."""
    if not isinstance(raw, bytes):
        return None
    high, sep, low = raw.partition(b"/")
    if not (sep and 0 < len(high) <= 8 and 0 < len(low) <= 8 and (high + low).isalnum()):
        return None
    try:
        return ((int(high, 16) << 32) | int(low, 16)).to_bytes(8, "big")
    except ValueError:
        return None


def _text(raw: HeaderValue) -> str | None:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


class RecordDecoder:
    """Decodes the records of a view's topics with writer schemas from a ``SchemaSource``."""

    def __init__(self, topics: Sequence[TopicConfig], schemas: SchemaSource) -> None:
        self._kinds = {t.topic: t.position_kind for t in topics}
        self._schemas = schemas
        self._parsed: dict[int, tuple[WriterSchema, Any, Reader | None]] = {}
        self._last_position: tuple[tuple[str, HeaderValue, HeaderValue] | None, bytes] = (
            None,
            b"",
        )
        self._native = _speedups.Decoder(
            {t.topic: t.position_kind is PG_LSN for t in topics},
            _OPS,
            Op.UPDATE,
            Op.DELETE,
            Op.TRUNCATE,
            ChangeRecord,
            self._native_schema,
            self._position,
        )

    def decode(self, record: KafkaRecord) -> Received:
        """The decoded record, or a ``BadRecord`` saying why it could not be decoded."""
        decoded: ChangeRecord | None = self._native.decode(record)
        return self._decode_python(record) if decoded is None else decoded

    def decode_all(self, records: Sequence[KafkaRecord]) -> list[Received]:
        """``decode`` of each record, in order (one call into C for the batch)."""
        decoded: list[Received] = self._native.decode_all(records, self._decode_python)
        return decoded

    def _decode_python(self, record: KafkaRecord) -> Received:
        try:
            return self._decode(record)
        except (RecordError, PositionError) as exc:
            return self._bad(record, exc.message)
        except (ValueError, TypeError, EOFError, IndexError, KeyError, OverflowError) as exc:
            # OverflowError: a date or timestamp beyond year 1..9999
            return self._bad(record, f"cannot decode: {exc!r}")

    def _bad(self, record: KafkaRecord, error: str) -> BadRecord:
        topic, partition, offset = record.topic() or "", record.partition(), record.offset()
        return BadRecord(topic, partition or 0, offset or 0, error, record.key(), record.value())

    def _decode(self, record: KafkaRecord) -> ChangeRecord:
        topic = record.topic() or ""
        op_raw, position_raw, kind_raw = _wanted(record.headers())
        raw_value = record.value()
        op = self._op(op_raw, raw_value)
        position = self._position(topic, position_raw, kind_raw)
        place = (topic, record.partition() or 0, record.offset() or 0)
        if op is Op.TRUNCATE:
            return ChangeRecord(*place, op, position, None, None)
        raw_key = record.key()
        if raw_key is None:
            raise RecordError(f"a {op.name.lower()} record has no key")
        key_schema, key = self._read(raw_key)
        if raw_value is None:
            return ChangeRecord(*place, op, position, key, None, key_schema, None)
        value_schema, value = self._read(raw_value)
        return ChangeRecord(*place, op, position, key, value, key_schema, value_schema)

    def _op(self, raw: HeaderValue, value: bytes | None) -> Op:
        if raw is None:
            return Op.UPDATE if value is not None else Op.DELETE
        op = _OPS.get(raw)
        if op is None:
            raise RecordError(f"header op={_text(raw)!r} is not one of c, u, d, r, t")
        return op

    def position(self, topic: str, raw: HeaderValue, kind_raw: HeaderValue) -> bytes:
        """The sort key of a record's ``position`` and ``position_kind`` headers (raw);
        ``RecordError`` or ``PositionError`` if there is none or it cannot be read."""
        return self._position(topic, raw, kind_raw)

    def writer_schema(self, schema_id: int) -> WriterSchema:
        """The writer schema of a registry id (fetched once)."""
        return self._cached(schema_id)[0]

    def _position(self, topic: str, raw: HeaderValue, kind_raw: HeaderValue) -> bytes:
        memo = (topic, raw, kind_raw)
        if memo == self._last_position[0]:  # every change of a transaction shares it
            return self._last_position[1]
        key = _lsn(raw) if kind_raw is None and self._kinds[topic] is PG_LSN else None
        if key is None:
            text = _text(raw)
            if text is None:
                raise RecordError("the record has no position header")
            key = self._sort_key(topic, text, _text(kind_raw))
        self._last_position = (memo, key)
        return key

    def _sort_key(self, topic: str, text: str, kind_text: str | None) -> bytes:
        try:
            kind = PositionKind(kind_text) if kind_text else self._kinds[topic]
        except ValueError:
            raise RecordError(f"header position_kind={kind_text!r} is not known") from None
        return sort_key(kind, text)

    def _cached(self, schema_id: int) -> tuple[WriterSchema, Any, Reader | None]:
        cached = self._parsed.get(schema_id)
        if cached is None:
            cached = self._parsed[schema_id] = self._schema(schema_id)
        return cached

    def _native_schema(self, schema_id: int) -> tuple[WriterSchema, Reader | None]:
        """For the C decoder: the writer schema and its reader (native or not)."""
        cached = self._cached(schema_id)
        return cached[0], cached[2]

    def _read(self, data: bytes) -> tuple[WriterSchema, dict[str, Any]]:
        framed = len(data) >= _HEADER.size and data[0] == 0
        schema_id = int.from_bytes(data[1:5], "big") if framed else wire_header(data)
        cached = self._cached(schema_id)
        if cached[2] is not None:
            decoded, end = cached[2](data, _HEADER.size)
        else:
            decoded, end = self._read_fastavro(schema_id, cached[1], data)
        if end != len(data):  # a foreign or corrupt payload that happened to parse
            raise RecordError(f"{len(data) - end} bytes left after schema {schema_id}")
        return cached[0], decoded

    def _schema(self, schema_id: int) -> tuple[WriterSchema, Any, Reader | None]:
        """The writer schema, fastavro's parsed form, and a native reader if the schema is flat
        enough, else a generated one if it compiles."""
        raw = self._schemas.schema(schema_id)
        reader = native_reader(raw) or compile_reader(raw)
        return WriterSchema(schema_id, raw), fastavro.parse_schema(dict(raw)), reader

    @staticmethod
    def _read_fastavro(schema_id: int, parsed: Any, data: bytes) -> tuple[dict[str, Any], int]:
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        decoded = fastavro.schemaless_reader(body, parsed, None)
        if not isinstance(decoded, dict):
            raise RecordError(f"schema {schema_id} is not a record schema")
        return decoded, body.tell()


def encode(schema_id: int, parsed_schema: Any, record: Mapping[str, Any]) -> bytes:
    """A record in the Confluent wire format (for tools and tests)."""
    out = io.BytesIO()
    out.write(_HEADER.pack(0, schema_id))
    fastavro.schemaless_writer(out, parsed_schema, dict(record))
    return out.getvalue()
