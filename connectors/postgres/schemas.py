"""The published shape of each captured table, kept in step with the stream's Relation messages.

A table's ``TableSchema`` comes from its Relation (from pgoutput, or described for the snapshot),
its key (the primary key, or the configured override; never the replica identity flags, which
under REPLICA IDENTITY FULL mark every column) and its excluded columns. A new or changed
Relation gives a new schema, registered under ``<topic>-key`` / ``<topic>-value`` *before* any
event of the transaction is handed to Kafka: the registry refuses an incompatible change there,
and nothing of the new shape is published.

pgoutput's Relation carries no column defaults; they are read from the catalog (``pg_attrdef``)
each time the schema is built, so ``ADD COLUMN … NOT NULL DEFAULT 'basic'`` gives the new field
the Avro default ``"basic"`` and the registry accepts it as a backward-compatible change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import psycopg

from strangler.connectors.config import CaptureSettings
from strangler.connectors.postgres.catalog import (
    column_defaults,
    constant_text,
    load_types,
    not_null_columns,
    wait_for_columns,
)
from strangler.connectors.postgres.errors import ValueParseError
from strangler.connectors.postgres.messages import Relation
from strangler.connectors.postgres.registrar import IncompatibleSchema, explain_refusal
from strangler.connectors.postgres.relations import table_id
from strangler.connectors.postgres.rows import column_types, table_schema
from strangler.connectors.postgres.types import ColumnType, TypeInfo
from strangler.connectors.publisher import EncodedChange
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import ChangeEvent, Op, Row, TableId
from strangler.core.schema import Default, TableSchema, avro_default

TopicFor = Callable[[TableId], str]
_E = TypeVar("_E", ChangeEvent, ChangeEvent | EncodedChange)


class TableShapes:
    """Schemas of the captured tables, registered as they change."""

    def __init__(
        self,
        capture: CaptureSettings,
        keys: Mapping[TableId, tuple[str, ...]],
        serializer: TableSerializer,
        topic_for: TopicFor,
        catalog: dict[int, TypeInfo],
    ) -> None:
        self._capture = capture
        self._keys = dict(keys)
        self._serializer = serializer
        self._topic_for = topic_for
        self.catalog = catalog
        self.schemas: dict[TableId, TableSchema] = {}
        self.version = 0
        """Counts ``update`` calls: what was built for a schema is stale once it moved on."""
        self._excluded = {t: frozenset(capture.options(t).exclude_columns) for t in keys}

    @property
    def tables(self) -> set[TableId]:
        return set(self._keys)

    def key_columns(self) -> dict[TableId, tuple[str, ...]]:
        return dict(self._keys)

    def add_table(self, table: TableId, key: tuple[str, ...]) -> None:
        self._keys[table] = key
        self._excluded[table] = frozenset(self._capture.options(table).exclude_columns)

    def load_types(self, conn: psycopg.Connection[Any], relation: Relation) -> None:
        """Type definitions the relation's columns need (before its rows are decoded)."""
        self.catalog.update(load_types(conn, [c.type_oid for c in relation.columns]))

    def update(self, conn: psycopg.Connection[Any], relation: Relation) -> TableSchema | None:
        """Build and register the schema of ``relation`` (None if the table is not captured)."""
        table = table_id(relation)
        if table not in self._keys:
            return None
        self.load_types(conn, relation)
        wait_for_columns(conn, relation)
        not_null = not_null_columns(conn, relation.oid)
        full = table_schema(relation, self.catalog, not_null=not_null, key=self._keys[table])
        excluded = self._excluded[table]
        names = (c.name for c in relation.columns)
        types = dict(zip(names, column_types(relation, self.catalog), strict=True))
        defaults = column_defaults(conn, relation.oid)
        columns = tuple(
            replace(c, default=_default(defaults[c.name], types[c.name]))
            if c.name in defaults
            else c
            for c in full.columns
            if c.name not in excluded
        )
        schema = TableSchema(table, columns, full.key)
        try:
            self._serializer.prepare(self._topic_for(table), schema)
        except IncompatibleSchema as exc:
            raise explain_refusal(exc, schema) from exc
        self.schemas[table] = schema
        self.version += 1
        return schema

    def project(self, events: Iterable[_E]) -> Iterator[_E]:
        """Events of captured tables, without excluded columns. An UPDATE that changed the key
        also deletes the old key (a tombstone first), or the old row would stay in the topic.
        Changes encoded already (``EncodedChange``) are of captured tables, in their published
        shape: they pass as they are."""
        for event in events:
            if isinstance(event, EncodedChange):
                yield event
                continue
            if event.table not in self._keys:
                continue
            moved = self._old_key_delete(event)
            if moved is not None:
                yield moved
            excluded = self._excluded[event.table]
            if excluded:
                event = replace(
                    event,
                    before=_without(event.before, excluded),
                    after=_without(event.after, excluded),
                )
            yield event

    def _old_key_delete(self, event: ChangeEvent) -> ChangeEvent | None:
        if event.op is not Op.UPDATE or event.before is None or event.key is None:
            return None
        names = self._keys[event.table]
        if not all(name in event.before for name in names):
            return None
        old = {name: event.before[name] for name in names}
        if old == dict(event.key):
            return None
        return replace(event, op=Op.DELETE, key=old, after=None)


def _default(expression: str, column_type: ColumnType) -> Default:
    """The column's default; constant only if its value parses as the column's type and Avro
    can state it."""
    constant, text = constant_text(expression)
    if not constant:
        return Default(expression)
    if text is None:  # NULL: the same as no default for a NOT NULL column
        return Default(expression, True, None)
    try:
        value = column_type.parse(text)
        return Default(expression, True, avro_default(column_type.avro_type, value))
    except (ValueParseError, ValueError):
        return Default(expression)


def _without(row: Row | None, excluded: frozenset[str]) -> Row | None:
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in excluded}
