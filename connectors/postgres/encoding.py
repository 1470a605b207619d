"""A ``TableSerializer`` for the hot path: encoders resolved once per table schema.

``TableSerializer`` looks its encoder up by the schema's JSON text, which it rebuilds for every
row; at tens of thousands of rows per second that lookup costs more than the Avro encoding
itself. The connector hands the same ``TableSchema`` object for every row of a table until the
table changes, so this subclass caches the encoders (and the column → field renaming) per
schema object. Registration, wire format and the refusal of placeholders are unchanged: rows
holding a ``NotData`` marker go through ``TableSerializer`` and fail there, with its message.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import fastavro

from strangler.connectors.postgres.messages import UNCHANGED_TOAST
from strangler.connectors.serialization import MAGIC, TableSerializer
from strangler.core.events import Row
from strangler.core.schema import TableSchema, key_schema, value_schema


@dataclass(frozen=True, slots=True)
class _Fast:
    schema: TableSchema
    """Kept so the ``id()`` the cache is keyed by stays this object's."""
    key_prefix: bytes
    key_parsed: Any
    key_fields: tuple[tuple[str, str], ...]
    value_prefix: bytes
    value_parsed: Any
    value_fields: tuple[tuple[str, str], ...]


def _encode(prefix: bytes, parsed: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO(prefix)
    out.seek(len(prefix))
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


class FastTableSerializer(TableSerializer):
    """``TableSerializer`` with encoders cached per ``TableSchema`` object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast: dict[tuple[str, int], _Fast] = {}

    def key(self, topic: str, table: TableSchema, key: Row) -> bytes:
        fast = self._lookup(topic, table)
        record = {name: key.get(column) for column, name in fast.key_fields}
        if None in record.values() or UNCHANGED_TOAST in record.values():
            return super().key(topic, table, key)  # raises the explanatory error
        return _encode(fast.key_prefix, fast.key_parsed, record)

    def value(self, topic: str, table: TableSchema, row: Row | None) -> bytes | None:
        if row is None:
            return None
        if UNCHANGED_TOAST in row.values():
            return super().value(topic, table, row)  # raises the explanatory error
        fast = self._lookup(topic, table)
        record = {name: row.get(column) for column, name in fast.value_fields}
        return _encode(fast.value_prefix, fast.value_parsed, record)

    def _lookup(self, topic: str, table: TableSchema) -> _Fast:
        fast = self._fast.get((topic, id(table)))
        if fast is None:
            fast = self._fast[(topic, id(table))] = self._build(topic, table)
        return fast

    def _build(self, topic: str, table: TableSchema) -> _Fast:
        key = self._encoder(topic, "key", key_schema(table, self._namespace))
        value = self._encoder(topic, "value", value_schema(table, self._namespace))
        names = table.field_names
        return _Fast(
            table,
            struct.pack(">bI", MAGIC, key.schema_id), key.parsed,
            tuple((k, names[k]) for k in table.key),
            struct.pack(">bI", MAGIC, value.schema_id), value.parsed,
            tuple((c.name, names[c.name]) for c in table.columns),
        )  # fmt: skip
