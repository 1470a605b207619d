"""The fused apply of SQLite and PostgreSQL views: a batch of Kafka records applied without
decoding them into Python objects first.

The Python path decodes every record into a ``ChangeRecord`` (dicts of values), compacts,
stages ``StagedRow``s, and then turns them into parameter tuples the sqlite3 module binds, or
into COPY data: most of the client's work per record. Here ``_fused`` (C) reads the records'
headers and framing and compacts the batch by key (``scan``), then writes each kept change's
Avro fields straight from the payload:

- SQLite: bound to the very statements the target uses, on the sqlite3 connection's own
  handle (``Batch.run``);
- PostgreSQL: as the COPY binary data of the target's staging table, or of the view table for
  a batch of new keys (``Batch.copy``), then the target's own set-based statements. They are
  sent with the COMMIT, which is not waited for: ``apply`` returns, the caller polls the next
  batch, and ``apply`` scans it before it waits (``settle``), so the server applies one batch
  while this thread reads the next. A batch whose COMMIT failed (a row the server refused) is
  handed back, before the next one, for the Python path to apply.

Each batch is one transaction begun here that also stores the offsets and positions, as
always. Rows, deleted-key marks and bookkeeping come out exactly as the Python path leaves
them (``tests/unit/materializers/test_fused_sqlite.py`` and
``tests/integration/materializers/test_fused_postgres.py`` compare the two on random batches).

A batch is taken only when every record is the common case; otherwise, and on any error, the
batch is left to the Python path untouched (the transaction rolled back), which then does what
it always does, dead letters and errors included. The common case:

- a record of a followed topic whose table exists as the last batch left it; a change (op c,
  u, r, d or none; not a truncate) with a key, framed payloads, a position the decoder reads;
- a *plan* for its pair of writer schemas: the table needs no change for them, the topic has
  no row filter, every field is of a kind the C reader writes exactly as the Python path does
  (null, boolean, int, long, float, double, string, bytes, enum, fixed, date, timestamps) into
  its column (SQLite: the column's converter; PostgreSQL: the column's type, e.g. no numeric or
  jsonb), key fields are ints, longs, strings or bytes outside unions;
- one key schema per topic in the batch (keys are compared by their bytes), every key in its
  canonical encoding.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from strangler.core.errors import StranglerError
from strangler.core.events import Op
from strangler.materializers import _fused
from strangler.materializers._speedups import isoformat
from strangler.materializers.applier import Applier, plan_steps
from strangler.materializers.columns import Dialect, sql_type
from strangler.materializers.decoding import PG_LSN, KafkaRecord, RecordDecoder
from strangler.materializers.native import Kind, plan
from strangler.materializers.postgres_target import Copied, PostgresTarget
from strangler.materializers.records import ChangeRecord
from strangler.materializers.sqlite_target import SqliteTarget, delete_statements
from strangler.materializers.tables import TableSpec, ViewColumn, source_name
from strangler.materializers.target import TableState

log = logging.getLogger(__name__)

DISABLE_ENV = "STRANGLER_FUSED_APPLY"
"""Set to ``0`` to apply every batch through the Python path."""

PlanKey = tuple[str, int, int]
"""(topic, key schema id, value schema id or -1 for deletes)."""

_KEY_KINDS = {Kind.LONG, Kind.STRING, Kind.BYTES}
_CONVERTER: dict[Kind, Any] = {
    Kind.BOOLEAN: int,
    Kind.TIMESTAMP_MICROS: isoformat,
    Kind.TIMESTAMP_MILLIS: isoformat,
    Kind.LOCAL_TIMESTAMP_MICROS: isoformat,
    Kind.LOCAL_TIMESTAMP_MILLIS: isoformat,
    Kind.DATE: isoformat,
}
"""The SQLite converter a column must have for values the C reader binds of each kind (None
for the kinds not here): the C reader binds what that converter makes of the value."""
_TIMESTAMPTZ, _TIMESTAMP = frozenset({"timestamptz"}), frozenset({"timestamp"})
_POSTGRES_TYPES: dict[Kind, frozenset[str]] = {
    Kind.BOOLEAN: frozenset({"boolean"}),
    Kind.LONG: frozenset({"integer", "bigint"}),
    Kind.FLOAT: frozenset({"real", "double precision"}),
    Kind.DOUBLE: frozenset({"double precision"}),
    Kind.STRING: frozenset({"text"}),
    Kind.ENUM: frozenset({"text"}),
    Kind.BYTES: frozenset({"bytea"}),
    Kind.FIXED: frozenset({"bytea"}),
    Kind.TIMESTAMP_MICROS: _TIMESTAMPTZ,
    Kind.TIMESTAMP_MILLIS: _TIMESTAMPTZ,
    Kind.LOCAL_TIMESTAMP_MICROS: _TIMESTAMP,
    Kind.LOCAL_TIMESTAMP_MILLIS: _TIMESTAMP,
    Kind.DATE: frozenset({"date"}),
}
"""The PostgreSQL column types ``Batch.copy`` writes values of each kind into (as
``copy_binary`` writes the values the Python path decodes of that kind)."""

Fields = list[tuple[int, bool, list[tuple[int, Any]]]]
SQLITE_CONSTRAINT = 19
"""SQLite's primary result code of a constraint violation."""


Committed = Callable[[dict[tuple[str, int], int], int], None]
"""Told of each batch committed here: its next offset per partition, and its record count."""


class FastApply:
    """Applies batches of one view's records through ``_fused`` (see the module
    docstring); ``apply`` returns the batches it left to the Python path."""

    def __init__(
        self,
        applier: Applier,
        target: SqliteTarget | PostgresTarget,
        decoder: RecordDecoder,
        committed: Committed | None = None,
    ) -> None:
        self.applier, self.target, self.decoder = applier, target, decoder
        self.committed = committed
        self._lsn = {t.topic: t.position_kind is PG_LSN for t in applier.view.topics}
        self._plans: dict[PlanKey, _fused.Plan | None] = {}
        self._tables: dict[str, TableState] | None = None
        """The tables the plans were made for."""
        self.declined = 0
        """Batches left to the Python path (for tests and the benchmark)."""
        self._in_flight: tuple[Sequence[KafkaRecord], _fused.Batch] | None = None
        """A PostgreSQL view's batch whose COMMIT is out (``PostgresTarget.commit_later``)."""

    def apply(self, messages: Sequence[KafkaRecord]) -> list[Sequence[KafkaRecord]]:
        """Apply ``messages`` (Kafka records in log order) in one transaction if every one is
        the common case. The batches left to the Python path, in log order: none, or
        ``messages`` (nothing of them done), or (the commit of the batch before failed) that
        batch and ``messages``.

        A PostgreSQL view's batch is committed later: its COMMIT is sent, and waited for while
        the next batch is scanned (the server works on one batch while this thread reads the
        next), at the next ``apply`` or at ``settle``."""
        batch = self._scan(messages)
        left = self.settle()
        if left or batch is None:  # (after a failed batch, the Python path goes on with these)
            self.declined += 1
            return [*left, messages]
        try:
            done = self._transaction(batch, messages)
        except StranglerError as exc:  # the Python path retries or reports it
            log.debug("fast apply left a batch to the Python path: %s", exc)
            done = False
        if not done:
            self.declined += 1
            return [messages]
        return []

    def settle(self) -> list[Sequence[KafkaRecord]]:
        """Wait for the batch whose COMMIT is out, if any: the batches left to the Python path,
        none or (its commit failed, nothing of it applied) that batch. Call it before anything
        else uses the view database, and before waiting for more records."""
        if self._in_flight is None:
            return []
        messages, batch = self._in_flight
        self._in_flight = None
        assert isinstance(self.target, PostgresTarget)
        try:
            self.target.settle()
        except StranglerError as exc:
            log.warning("a batch left to the Python path after its fast commit failed: %s", exc)
            self.declined += 1
            return [messages]
        self._done(batch, len(messages))
        return []

    def _done(self, batch: _fused.Batch, count: int) -> None:
        if self.committed is not None:
            self.committed(batch.offsets, count)

    def _scan(self, messages: Sequence[KafkaRecord]) -> _fused.Batch | None:
        tables = self.applier.tables
        if tables is None or not messages:
            return None
        if tables != self._tables:
            self._plans.clear()
            self._tables = tables
        marks = {topic: state.truncated_at for topic, state in tables.items()}
        for _ in range(64):  # a plan per new pair of writer schemas, then the batch again
            scanned = _fused.scan(messages, self._plans, self._lsn, self.decoder.position, marks)
            if not isinstance(scanned, tuple):
                return scanned
            key = scanned[1]
            if key in self._plans:
                return None
            try:
                self._plans[key] = self._plan(tables, *key)
            except Exception as exc:  # noqa: BLE001 - the Python path reports it (and no plan
                # is remembered: a registry that failed once may answer the next batch)
                log.debug("no fast plan for %s now: %s", key, exc)
                return None
        return None

    def _transaction(self, batch: _fused.Batch, messages: Sequence[KafkaRecord]) -> bool:
        target, view = self.target, self.applier.view.name
        target.begin()
        try:
            if target.load_tables(view) != self._tables:  # changed by another process
                target.rollback()
                return False
            assert self._tables is not None
            for topic, (deletes, upserts) in zip(batch.topics, batch.kinds, strict=True):
                self._apply_topic(batch, topic, self._tables[topic].spec, deletes, upserts)
            target.save_offsets(view, batch.offsets)
            target.save_positions(view, batch.positions)
            if isinstance(target, PostgresTarget):
                target.commit_later()
                self._in_flight = (messages, batch)
                return True
            target.commit()
        except _fused.Declined as exc:
            log.debug("fast apply declined a batch: %s", exc)
            target.rollback()
            return False
        except BaseException:
            target.rollback()
            raise
        self._done(batch, len(messages))
        return True

    def _apply_topic(
        self, batch: _fused.Batch, topic: str, spec: TableSpec, deletes: bool, upserts: bool
    ) -> None:
        if isinstance(self.target, PostgresTarget):
            self.target.apply(spec, Copied(functools.partial(batch.copy, topic), deletes, upserts))
            return
        conn = self.target.conn
        if deletes:
            for statement in delete_statements(spec):
                batch.run(conn, topic, True, statement, len(spec.key) + 1)
        if upserts:
            position = len(spec.columns) + 1

            def execute(statement: str, otherwise: str | None = None) -> None:
                try:
                    batch.run(conn, topic, False, statement, position, otherwise)
                except _fused.Declined as exc:
                    if exc.args[1] & 0xFF == SQLITE_CONSTRAINT:  # as executemany raises it
                        raise sqlite3.IntegrityError(exc.args[2]) from exc
                    raise

            # an update, then an insert where it changed no row (see update_statement)
            self.target.upsert(spec, execute, execute)

    def _plan(
        self, tables: dict[str, TableState], topic: str, key_id: int, value_id: int
    ) -> _fused.Plan | None:
        """The compiled plan of a pair of writer schemas, or None (the Python path's)."""
        config, state = self.applier.topics.get(topic), tables.get(topic)
        if config is None or state is None or config.filter is not None:
            return None
        key_schema = self.decoder.writer_schema(key_id)
        value_schema = self.decoder.writer_schema(value_id) if value_id >= 0 else None
        probe = ChangeRecord(topic, 0, 0, Op.UPDATE, b"", {}, None, key_schema, value_schema)
        if plan_steps(config, [probe], state)[1]:
            return None  # the table changes for them: the Python path does that
        spec = state.spec
        key_fields = _fields(key_schema.schema, spec, True, self._takes)
        if key_fields is None:
            return None
        if value_schema is None:
            return _fused.compile(key_id, key_fields, -1, None)
        value_fields = _fields(value_schema.schema, spec, False, self._takes)
        if value_fields is None:
            return None
        return _fused.compile(key_id, key_fields, value_id, value_fields)

    def _takes(self, kind: Kind, column: ViewColumn) -> bool:
        """Whether the C reader writes values of ``kind`` into ``column`` as the Python path
        does."""
        if isinstance(self.target, PostgresTarget):
            return sql_type(column.avro_type).postgres in _POSTGRES_TYPES.get(kind, ())
        return _CONVERTER.get(kind) is sql_type(column.avro_type).converter(Dialect.SQLITE)


def _fields(
    schema: Any, spec: TableSpec, key: bool, takes: Callable[[Kind, ViewColumn], bool]
) -> Fields | None:
    """The C reader's fields of a key or value writer schema: (parameter, is union, leaves);
    None if it cannot write them all as the Python path does (``takes``)."""
    steps = plan(schema)
    if steps is None:
        return None
    columns = spec.key if key else spec.values
    first = 1 if key else len(spec.key) + 1
    params = {c.source: (first + i, c) for i, c in enumerate(columns)}
    sources = [source_name(f) for f in schema["fields"]]
    if len(set(sources)) != len(sources):
        return None
    out: Fields = []
    for source, (_, is_union, leaves) in zip(sources, steps, strict=True):
        param, column = params.get(source, (0, None))
        if any(post is not None for _, _, post, _ in leaves):
            return None  # decimal, uuid, time-*: read (and checked) by a Python logical reader
        if key and (is_union or param == 0 or leaves[0][0] not in _KEY_KINDS):
            return None
        if column is not None:
            kinds = [Kind(kind) for kind, _, _, _ in leaves if kind != Kind.NULL]
            if not all(takes(kind, column) for kind in kinds):
                return None
        out.append((param, is_union, [(kind, arg) for kind, arg, _, _ in leaves]))
    if key and sorted(p for p, _, _ in out) != list(range(1, len(spec.key) + 1)):
        return None
    return out


def fast_apply(
    applier: Applier, decoder: RecordDecoder, committed: Committed | None = None
) -> FastApply | None:
    """The fused apply for this applier's target, or None: turned off by
    ``STRANGLER_FUSED_APPLY=0``, neither a SQLite nor a PostgreSQL view, or a sqlite3 module
    whose handles the C module cannot use."""
    target = applier.target
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return None
    if isinstance(target, PostgresTarget):
        return FastApply(applier, target, decoder, committed)
    if not isinstance(target, SqliteTarget):
        return None
    name = _fused.filename(target.conn)
    if name is None or os.path.realpath(name) != os.path.realpath(target.path):
        log.info("SQLite view %s: the fused apply cannot use this sqlite3 module", target.path)
        return None
    return FastApply(applier, target, decoder, committed)
