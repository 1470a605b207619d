"""The streaming hot path: a row event's images straight to the Kafka records of its rows.

Through the Python path a changed row costs about forty microseconds: a row dict of decoded
values (``TableCodec.from_image``), a ``ChangeEvent``, the projection to the published shape
(``TableShapes.project``: excluded columns, the published key, the tombstone of a changed key)
and the Avro encoding of key and value. For a table version whose columns the C ``RowEncoder``
writes, ``StreamEncoder.items`` instead hands the publisher one ``EncodedRows`` per row event:
the framed key and value records of each row, written by the C code straight from the event's
bytes, byte for byte what the Python path writes (``FastTableSerializer`` for the published
schema).

A ``RowEncoder`` is built per (source table version, published schema): the codec's
``RowDecoder`` columns, with the published value fields and key fields as source column
indexes (an excluded column is no field, so its values are skipped), each field's
nullability and Avro kind, and the schemas' registry ids. A schema with a field type the C code
does not write, a key column the source version lacks, a MariaDB INET6/INET4 column (their
text comes from Python's ``ipaddress``): no encoder, the table keeps the Python path.

Row events are encoded when their transaction is published, after its table versions were
registered (``TableShapes.register``), so a row is always written with the schema the Python
path would use. Whatever the encoder declines (a zero date, a TIME outside one day, a NULL
key, a malformed image, ...) goes the Python path, in stream order with the encoded rows: it
writes it, warns, or raises its own error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from strangler.connectors.mysql.native import DELETE, UPDATE, WRITE
from strangler.connectors.mysql.rows import TableCodec
from strangler.connectors.mysql.shapes import TableShapes, TopicFor
from strangler.connectors.mysql.transactions import Transaction, row_events
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.publisher import EncodedRows
from strangler.core import avro
from strangler.core.errors import StranglerError
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.schema import TableSchema, key_schema, value_schema

try:
    from strangler.connectors.mysql._speedups import RowEncoder
except ImportError:  # not built: the Python path
    RowEncoder = None  # type: ignore[assignment,misc]

# the Avro kinds of _speedups.c's enum Kind
K_BOOLEAN, K_LONG, K_FLOAT, K_DOUBLE, K_BYTES, K_STRING = 1, 2, 3, 4, 5, 6
K_DECIMAL, K_DATE, K_TIME, K_TIMESTAMP, K_UUID = 7, 8, 9, 10, 11

_PLAIN: Final = {
    avro.BOOLEAN: K_BOOLEAN, avro.INT: K_LONG, avro.LONG: K_LONG, avro.FLOAT: K_FLOAT,
    avro.DOUBLE: K_DOUBLE, avro.BYTES: K_BYTES, avro.STRING: K_STRING,
}  # fmt: skip
_LOGICAL: Final = {
    (avro.INT, "date"): K_DATE,
    (avro.LONG, "time-micros"): K_TIME,
    (avro.LONG, "timestamp-micros"): K_TIMESTAMP,
    (avro.STRING, "uuid"): K_UUID,
}
_OPS: Final = {Op.CREATE: WRITE, Op.DELETE: DELETE, Op.UPDATE: UPDATE}
_ANY_NAMESPACE: Final = "strangler"
_MAX_ENCODERS = 4096
"""Encoders kept (one per table version and published schema: DDL makes new ones)."""

FieldSpec = tuple[int, bool, int, int]
"""(source column index, nullable, kind, decimal scale)."""


def field_kind(avro_type: Any) -> tuple[int, int] | None:
    """(kind, decimal scale) of a non-union Avro type the C encoder writes, else None (as
    ``encoding.field_writer``: the types FastTableSerializer writes itself)."""
    if isinstance(avro_type, str):
        kind = _PLAIN.get(avro_type)
        return None if kind is None else (kind, 0)
    if not isinstance(avro_type, dict):
        return None
    base, logical = avro_type.get("type"), avro_type.get("logicalType")
    if logical == "decimal" and base == avro.BYTES:
        return K_DECIMAL, int(avro_type.get("scale", 0))
    if logical is None:
        return field_kind(base) if base != "record" else None
    kind = _LOGICAL.get((str(base), str(logical)))
    return None if kind is None else (kind, 0)


def field_specs(
    record: Mapping[str, Any], names: tuple[str, ...], index: Mapping[str, int]
) -> tuple[FieldSpec, ...] | None:
    """The C encoder's fields of an Avro record schema whose fields are the columns ``names``
    (in order), with ``index`` the source columns' positions; None if one is not written."""
    specs = []
    for field, name in zip(record["fields"], names, strict=True):
        avro_type, nullable = field["type"], False
        if isinstance(avro_type, list):
            if len(avro_type) != 2 or avro_type[0] != avro.NULL:
                return None
            avro_type, nullable = avro_type[1], True
        kind = field_kind(avro_type)
        column = index.get(name)
        if kind is None or column is None:
            return None
        specs.append((column, nullable, kind[0], kind[1]))
    return tuple(specs)


def row_encoder(
    codec: TableCodec, schema: TableSchema, serializer: FastTableSerializer, topic: str
) -> RowEncoder | None:
    """The C encoder of ``codec``'s row events as records of the published ``schema`` in
    ``topic`` (registering its schemas if new); None where the Python path must write them."""
    if RowEncoder is None or codec.native is None or not schema.key:
        return None
    index = {column.name: i for i, column in enumerate(codec.columns)}
    names = tuple(column.name for column in schema.columns)
    try:  # the fields' types do not depend on the records' namespace
        value = field_specs(value_schema(schema, _ANY_NAMESPACE), names, index)
        key = field_specs(key_schema(schema, _ANY_NAMESPACE), schema.key, index)
    except StranglerError:
        return None
    if value is None or key is None:
        return None
    key_id, value_id = serializer.schema_ids(topic, schema)
    try:
        return RowEncoder(codec.native, value, key, value_id, key_id)
    except ValueError:  # a column whose form the field's kind is not written from
        return None


class StreamEncoder:
    """A transaction's publishable items: ``EncodedRows`` where the C encoder takes a row
    event, projected ``ChangeEvent``s of the Python path for the others (and truncates)."""

    def __init__(
        self, shapes: TableShapes, serializer: FastTableSerializer, topic_for: TopicFor
    ) -> None:
        self._shapes = shapes
        self._serializer = serializer
        self._topic_for = topic_for
        self._encoders: dict[tuple[int, int], tuple[TableCodec, TableSchema, RowEncoder | None]]
        self._encoders = {}
        self.records = 0
        """Records of the items ``items`` made so far (of its last transaction)."""

    def items(
        self, tx: Transaction, schemas: Mapping[TableId, TableSchema]
    ) -> Iterator[ChangeEvent | EncodedRows]:
        """The items of ``tx`` in stream order, made as the publisher takes them (a large
        transaction is never held encoded whole); ``records`` counts the records they make.
        ``schemas``: the published schemas of its tables (``TableShapes.register``)."""
        assert tx.position.file is not None
        position = tx.position.file
        self.records = 0
        for codec, rows in tx.rows:
            table = codec.schema.table
            schema = schemas.get(table)
            if schema is None:
                continue  # not captured
            encoder = self._encoder(codec, schema)
            if encoder is not None and rows.image is not None:
                records = encoder.encode(rows.image, _OPS[rows.op])
                if records is not None:
                    self.records += len(records)
                    yield EncodedRows(table, rows.op, records, schema)
                    continue
            events = row_events(codec, rows, tx.position, tx.commit_ts_us, tx.gtid)
            projected = self._shapes.project(events, schemas, position)
            self.records += len(projected)
            yield from projected
        if tx.truncates:
            projected = self._shapes.project(tx.truncate_events(), schemas, position)
            self.records += len(projected)
            yield from projected

    def _encoder(self, codec: TableCodec, schema: TableSchema) -> RowEncoder | None:
        found = self._encoders.get((id(codec), id(schema)))
        if found is not None and found[0] is codec and found[1] is schema:
            return found[2]
        if len(self._encoders) >= _MAX_ENCODERS:
            self._encoders.clear()
        topic = self._topic_for(schema.table)
        encoder = row_encoder(codec, schema, self._serializer, topic)
        self._encoders[(id(codec), id(schema))] = (codec, schema, encoder)
        return encoder
