"""The streaming hot path: pgoutput Insert and Update messages straight to Kafka records.

A streamed change would cost about thirty microseconds of Python: decoding the message into a
``TupleData`` of str, a ``ChangeEvent`` of parsed values, projecting and serializing it. For a
row the C ``Encoder`` handles (the snapshot's, see ``native``), ``NativeRows.row`` instead reads
the tuple straight from the message bytes (``Encoder.encode_tuple``) and keeps the key and value
records in a ``NativeRow``, which the publisher writes as they are, with the transaction's
headers. The pgoutput bytes stay with it, so whoever needs the change as a ``ChangeEvent``
(incremental snapshots, a transaction whose schema changed) decodes it through the Python path.

Only the plain cases are native: an Insert, an Update without an old tuple (the key did not
change: a key change sends the old key, and becomes a tombstone of it plus the new row, in
Python) or with the full old row (REPLICA IDENTITY FULL) whose key is the new row's, outside a
streamed block (protocol 2), of a captured table whose plan the encoder supports, every value
one the encoder parses. Everything else is declined and goes the usual
way, in stream order with the native rows: deletes, key changes, unchanged TOAST values
(``'u'``), binary values, malformed messages (the Python decoder raises their error).

A plan (the encoder of one relation's tuples as records of the table's schema) is built for the
relation in force when the row arrives and the table's schema then. Registering a schema bumps
``TableShapes.version``: plans are rebuilt, and at publishing ``current`` checks that the schema
a row was encoded with is still the table's (it is not when the transaction itself carried a
schema change, registered only at its commit): otherwise the row is decoded and written
through the Python path, with the schema the Python path would use.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from strangler.connectors.postgres.messages import Oid, Relation
from strangler.connectors.postgres.native import native_table
from strangler.connectors.postgres.relations import table_id
from strangler.connectors.postgres.schemas import TableShapes, TopicFor
from strangler.connectors.publisher import EncodedChange
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import Op, TableId
from strangler.core.schema import TableSchema

_OID: Final = struct.Struct("!I").unpack_from
_INSERT, _UPDATE, _NEW, _OLD = 0x49, 0x55, 0x4E, 0x4F  # 'I', 'U', 'N', 'O'
_MARKER_AT: Final = 5
"""After the type byte and the Int32 relation oid: the first tuple's marker."""
_TUPLE_AT: Final = 6
"""Where the new tuple of an Insert, or of an Update without an old tuple, starts."""

TupleEncoder = Callable[[bytes, int], "tuple[bytes, bytes] | None"]


@dataclass(slots=True)
class NativeRow(EncodedChange):
    """A row change encoded at arrival, with what rebuilds it as a ``ChangeEvent``."""

    payload: bytes
    """The pgoutput message."""
    relation: Relation
    """The relation definition in force when it arrived."""
    version: int
    """``TableShapes.version`` when it was encoded."""


@dataclass(frozen=True, slots=True)
class _Plan:
    relation: Relation
    table: TableId
    schema: TableSchema
    encode: TupleEncoder | None
    """None: this relation's rows take the Python path."""
    encode_full: TupleEncoder | None = None
    """Updates with a full old image (``encode_full_update``)."""


class NativeRows:
    """Encodes the rows it can as they arrive; None for the others."""

    def __init__(
        self, shapes: TableShapes, serializer: TableSerializer, topic_for: TopicFor
    ) -> None:
        self._shapes = shapes
        self._serializer = serializer
        self._topic_for = topic_for
        self._plans: dict[int, _Plan] = {}
        self._version = shapes.version

    def row(self, payload: bytes, relations: dict[Oid, Relation]) -> NativeRow | None:
        """The records of an Insert or Update message (``payload``), or None: decode it."""
        if len(payload) <= _TUPLE_AT:
            return None  # truncated: the decoder explains
        kind, marker = payload[0], payload[_MARKER_AT]
        if marker != _NEW and (marker != _OLD or kind != _UPDATE):
            return None  # a key change (old key 'K'), or not an Insert or Update
        if kind != _INSERT and kind != _UPDATE:
            return None
        oid = _OID(payload, 1)[0]
        relation = relations.get(oid)
        plan = self._plans.get(oid)
        if plan is None or plan.relation is not relation or self._version != self._shapes.version:
            if relation is None:
                return None  # unknown: the Python path raises
            plan = self._plan(oid, relation)
        if plan.encode is None or plan.encode_full is None:
            return None
        if marker == _NEW:
            records = plan.encode(payload, _TUPLE_AT)
        else:
            records = plan.encode_full(payload, _MARKER_AT)
        if records is None:
            return None
        op = Op.CREATE if kind == _INSERT else Op.UPDATE
        key, value = records
        return NativeRow(plan.table, op, key, value, plan.schema, payload, relation, self._version)

    def current(self, row: NativeRow) -> bool:
        """Whether ``row`` was encoded with the schema its table has now."""
        if row.version == self._shapes.version:
            return True
        schema = self._shapes.schemas.get(row.table)
        return schema is row.schema or schema == row.schema

    def _plan(self, oid: int, relation: Relation) -> _Plan:
        if self._version != self._shapes.version:
            self._plans.clear()
            self._version = self._shapes.version
        plan = self._plans.get(oid)
        if plan is None or plan.relation is not relation:
            plan = self._plans[oid] = self._build(relation)
        return plan

    def _build(self, relation: Relation) -> _Plan:
        table = table_id(relation)
        schema = self._shapes.schemas.get(table)
        if schema is None:
            return _Plan(relation, table, TableSchema(table, (), ()), None)
        native = native_table(
            relation, schema, self._shapes.catalog, self._serializer, self._topic_for(table)
        )
        if native is None:
            return _Plan(relation, table, schema, None)
        return _Plan(relation, table, schema, native.tuple_encoder, native.full_update_encoder)
