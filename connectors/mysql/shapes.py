"""The published shape of each captured table: the source's table version projected by the
pipeline's options (key override, excluded columns), registered before it is used.

The stream decodes every row with the table version its TABLE_MAP describes, so a DDL statement
shows up as a new source ``TableSchema`` with the first rows written after it. ``publishable``
projects it and registers it under ``<topic>-key`` / ``<topic>-value`` *before* any event of the
transaction is handed to Kafka: the registry refuses an incompatible change there, and nothing
of the new shape is published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from strangler.connectors.config import CaptureSettings
from strangler.connectors.mysql.positions import FilePosition
from strangler.connectors.postgres.registrar import IncompatibleSchema, explain_refusal
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import ChangeEvent, Op, Row, TableId
from strangler.core.schema import TableSchema

TopicFor = Callable[[TableId], str]


class TableShapes:
    """Projected, registered schemas of the captured tables."""

    def __init__(
        self,
        capture: CaptureSettings,
        tables: Iterable[TableId],
        serializer: TableSerializer,
        topic_for: TopicFor,
    ) -> None:
        self._capture = capture
        self.tables = frozenset(tables)
        self._serializer = serializer
        self._topic_for = topic_for
        self._excluded = {t: frozenset(capture.options(t).exclude_columns) for t in self.tables}
        self._keys = {t: capture.key_override(t) for t in self.tables}
        self._projected: dict[int, tuple[TableSchema, TableSchema]] = {}
        """id(source schema) → (source schema, kept so the id stays its, projected schema)."""
        self.schemas: dict[TableId, TableSchema] = {}
        """The latest published schema of each table."""

    def key_of(self, table: TableId) -> list[str] | None:
        """The configured key columns of ``table`` (None: its primary key)."""
        key = self._keys.get(table)
        return list(key) if key is not None else None

    def publishable(self, source: TableSchema) -> TableSchema:
        """``source`` projected and registered (cached per source schema object)."""
        cached = self._projected.get(id(source))
        if cached is not None and cached[0] is source:
            return cached[1]
        table = source.table
        excluded = self._excluded.get(table, frozenset())
        key = tuple(self._keys.get(table) or source.key)
        columns = tuple(c for c in source.columns if c.name not in excluded)
        schema = TableSchema(table, columns, key)
        try:
            self._serializer.prepare(self._topic_for(table), schema)
        except IncompatibleSchema as exc:
            raise explain_refusal(exc, schema) from exc
        self._projected[id(source)] = (source, schema)
        self.schemas[table] = schema
        return schema

    def register(self, sources: Mapping[TableId, TableSchema]) -> dict[TableId, TableSchema]:
        """Project and register the table versions a transaction's events were decoded with."""
        return {t: self.publishable(s) for t, s in sources.items() if t in self.tables}

    def project(
        self,
        events: Iterable[ChangeEvent],
        schemas: Mapping[TableId, TableSchema],
        position: FilePosition,
    ) -> list[ChangeEvent]:
        """Events of captured tables, keyed by the published key, without excluded columns,
        positioned at ``position`` (file:pos, the order materializers keep). An UPDATE that
        changed the key also deletes the old key first, or the old row would stay."""
        out: list[ChangeEvent] = []
        table: TableId | None = None
        captured, schema, excluded = False, None, frozenset[str]()
        for event in events:
            if event.table is not table:  # a transaction's events mostly share one table
                table = event.table
                captured, schema = table in self.tables, schemas.get(table)
                excluded = self._excluded.get(table, frozenset())
            if not captured:
                continue
            if schema is None:  # a truncate: no row, no schema
                out.append(replace(event, position=position))
                continue
            self._row(event, schema, excluded, position, out)
        return out

    @staticmethod
    def _row(
        event: ChangeEvent,
        schema: TableSchema,
        excluded: frozenset[str],
        position: FilePosition,
        out: list[ChangeEvent],
    ) -> None:
        # the streaming hot path: events are built directly (dataclasses.replace costs twice)
        before = _without(event.before, excluded)
        after = _without(event.after, excluded)
        key = _key(schema.key, after if after is not None else before)
        ts, tx = event.commit_ts_us, event.tx_id
        if event.op is Op.UPDATE and before is not None:
            old = _key(schema.key, before)
            if old != key:
                out.append(ChangeEvent(event.table, Op.DELETE, old, before, None, position, ts, tx))
        out.append(ChangeEvent(event.table, event.op, key, before, after, position, ts, tx))


def _key(names: tuple[str, ...], row: Row | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {name: row.get(name) for name in names}


def _without(row: Row | None, excluded: frozenset[str]) -> Row | None:
    if row is None or not excluded:
        return row
    return {k: v for k, v in row.items() if k not in excluded}
