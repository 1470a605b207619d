"""Applying batches of decoded records to a view, exactly once.

One batch is one database transaction: for each topic, the table is created or evolved, the
batch is compacted by key in log order, a truncate clears the table, the surviving changes are
upserted or deleted under the per-key position guard, bad records go to the dead-letter table,
and the next offset of every partition in the batch is stored, all committed together.
Re-applying a batch (after a crash between commit and anything else) changes nothing, and a
restart seeks to the stored offsets, so no record is applied twice nor skipped.

``prepare`` does a batch's client work (survey, compaction, staging) ahead, outside any
transaction, against the tables as the last committed batch left them, so it can run while
the batch before is still in the database (``ApplyThread``). ``apply`` uses what was prepared
only if the tables read in its transaction are those it was prepared against (no other
process of the group truncated or changed them meanwhile), else it does the work again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from strangler.materializers import _speedups
from strangler.materializers.compaction import CompactedBatch, compact
from strangler.materializers.config import BadRecordPolicy, TopicConfig, ViewConfig
from strangler.materializers.errors import (
    ApplyError,
    MaterializerError,
    RecordError,
    ViewStopped,
)
from strangler.materializers.records import BadRecord, ChangeRecord, Received
from strangler.materializers.shapes import RowShape, row_shape
from strangler.materializers.tables import Evolution, TableSpec, evolve, table_spec
from strangler.materializers.target import Partition, StagedRow, TableState, Target

ShapeKey = tuple[str, int | None, int | None]
"""(topic, key schema id, value schema id)."""


def progress(batch: Sequence[Received]) -> tuple[dict[Partition, int], dict[Partition, bytes]]:
    """Per partition of ``batch``: the offset after its last record, and its latest source
    position (of the records that have one). The applier has it from ``_speedups.survey``;
    this is its Python reference."""
    offsets: dict[Partition, int] = {}
    positions: dict[Partition, bytes] = {}
    for record in batch:
        place = (record.topic, record.partition)
        if record.offset >= offsets.get(place, 0):
            offsets[place] = record.offset + 1
        if type(record) is ChangeRecord and record.position > positions.get(place, b""):
            positions[place] = record.position
    return offsets, positions


def _first_bad(batch: Sequence[Received]) -> int | None:
    kinds = list(map(type, batch))  # at C speed: this runs over every batch
    return kinds.index(BadRecord) if BadRecord in kinds else None


@dataclass(frozen=True, slots=True)
class _Staged:
    """One topic's share of a prepared batch: its table as staged against, rows, bad ones."""

    state: TableState
    rows: list[StagedRow]
    bad: list[BadRecord]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's client work done ahead (see the module docstring)."""

    topics: dict[str, _Staged]
    bad: list[BadRecord]
    offsets: dict[Partition, int]
    positions: dict[Partition, bytes]


@dataclass(slots=True)
class _TopicWork:
    """One topic's share of a batch while it is being applied."""

    config: TopicConfig
    records: list[ChangeRecord] = field(default_factory=list)


class Applier:
    """Applies batches to one view in one target (see the module docstring)."""

    def __init__(self, view: ViewConfig, target: Target) -> None:
        self.view = view
        self.target = target
        self.topics = {t.topic: t for t in view.topics}
        self._shapes: dict[ShapeKey, tuple[TableSpec, RowShape]] = {}
        self._tables: dict[str, TableState] | None = None
        """The view's tables as the last committed batch left them (None: unknown)."""

    @property
    def tables(self) -> dict[str, TableState] | None:
        """The view's tables as the last committed batch left them (None: unknown yet); a new
        dict whenever they change."""
        return self._tables

    def stored_offsets(self) -> dict[Partition, int]:
        """Where to resume: the next offset per partition, as committed with the rows."""
        return self.target.load_offsets(self.view.name)

    def prepare(self, batch: Sequence[Received]) -> Prepared | None:
        """``batch``'s client work, for ``apply``; None if it cannot be done ahead (tables
        unknown yet, a table to create or change, a truncate, a bad record that stops)."""
        tables = self._tables
        if tables is None or (
            self.view.on_bad_record is BadRecordPolicy.STOP and _first_bad(batch) is not None
        ):
            return None
        by_topic, bad, offsets, positions = _speedups.survey(batch, ChangeRecord)
        topics: dict[str, _Staged] = {}
        for topic, records in by_topic.items():
            config, state = self.topics.get(topic), tables.get(topic)
            if config is None or state is None or plan_steps(config, _firsts(records), state)[1]:
                return None
            compacted = compact(records)
            if compacted.truncate is not None:
                return None
            rows, topic_bad = self._stage(topic, state, compacted)
            topics[topic] = _Staged(state, rows, topic_bad)
        return Prepared(topics, bad, offsets, positions)

    def apply(self, batch: Sequence[Received], prepared: Prepared | None = None) -> None:
        """Apply ``batch`` (records in log order) in one transaction, with its ``prepare``d
        work if that still holds; raise ``ViewStopped`` at the first bad record when the view
        stops on bad records (after applying what came before it)."""
        bad_at = _first_bad(batch)
        if bad_at is not None and self.view.on_bad_record is BadRecordPolicy.STOP:
            self._transaction(batch[:bad_at])
            bad = batch[bad_at]
            assert isinstance(bad, BadRecord)
            raise ViewStopped(
                f"view {self.view.name}: bad record at {bad.topic}[{bad.partition}]@"
                f"{bad.offset}: {bad.error}",
                fix="fix or skip the record, or set on_bad_record: dead_letter",
            )
        self._transaction(batch, prepared)

    def _transaction(self, batch: Sequence[Received], prepared: Prepared | None = None) -> None:
        """Apply ``batch``; if the database refuses its data, split it in halves (each its
        own transaction, in log order) until the refused record is alone, and dead-letter
        that one."""
        if not batch:
            return
        try:
            self._one_transaction(batch, prepared)
        except ApplyError as exc:
            if len(batch) > 1:
                half = len(batch) // 2
                self._transaction(batch[:half])
                self._transaction(batch[half:])
                return
            self._refused(batch[0], exc)

    def _refused(self, record: Received, exc: ApplyError) -> None:
        bad = _bad(record, f"cannot apply: {exc.message}")
        if self.view.on_bad_record is BadRecordPolicy.STOP:
            raise ViewStopped(
                f"view {self.view.name}: the database refused {bad.topic}[{bad.partition}]@"
                f"{bad.offset}: {exc.message}",
                fix="fix the record at the source, or set on_bad_record: dead_letter",
            ) from exc
        self._one_transaction([bad], None)

    def _one_transaction(self, batch: Sequence[Received], prepared: Prepared | None) -> None:
        self.target.begin()
        try:
            tables = self._apply(batch, prepared)
        except BaseException:
            self.target.rollback()
            raise
        self.target.commit()
        self._tables = tables

    def _apply(self, batch: Sequence[Received], prepared: Prepared | None) -> dict[str, TableState]:
        """Apply ``batch``; the view's tables as it leaves them."""
        tables = self.target.load_tables(self.view.name)
        if prepared is not None and all(
            tables.get(topic) == staged.state for topic, staged in prepared.topics.items()
        ):
            return self._apply_prepared(prepared, tables)
        # one pass in C: changes by topic, bad records, and ``progress(batch)``
        by_topic, bad, offsets, positions = _speedups.survey(batch, ChangeRecord)
        work = {topic: _TopicWork(self._config(topic), r) for topic, r in by_topic.items()}
        for topic, topic_work in work.items():
            bad.extend(self._apply_topic(topic, topic_work, tables))
        self._bookkeeping(bad, offsets, positions)
        return tables

    def _apply_prepared(
        self, prepared: Prepared, tables: dict[str, TableState]
    ) -> dict[str, TableState]:
        bad = list(prepared.bad)
        for staged in prepared.topics.values():
            self.target.apply(staged.state.spec, staged.rows)
            bad.extend(staged.bad)
        self._bookkeeping(bad, prepared.offsets, prepared.positions)
        return tables

    def _bookkeeping(
        self, bad: list[BadRecord], offsets: dict[Partition, int], positions: dict[Partition, bytes]
    ) -> None:
        if bad:
            self.target.dead_letter(self.view.name, bad)
        self.target.save_offsets(self.view.name, offsets)
        self.target.save_positions(self.view.name, positions)

    def _config(self, topic: str) -> TopicConfig:
        config = self.topics.get(topic)
        if config is None:
            raise MaterializerError(f"view {self.view.name} does not follow topic {topic}")
        return config

    def _apply_topic(
        self, topic: str, work: _TopicWork, tables: dict[str, TableState]
    ) -> list[BadRecord]:
        """Apply one topic's changes; ``tables[topic]`` becomes the table as they leave it."""
        state = self._follow_schemas(topic, work, tables.get(topic))
        if state is None:
            return []  # only truncates of a table that does not exist yet
        compacted = compact(work.records)
        state = self._truncate(topic, state, compacted)
        tables[topic] = state
        rows, bad = self._stage(topic, state, compacted)
        self.target.apply(state.spec, rows)
        return bad

    def _truncate(self, topic: str, state: TableState, compacted: CompactedBatch) -> TableState:
        position = compacted.truncate
        if position is None:
            return state
        self.target.truncate(state.spec, position)
        mark = position if state.truncated_at is None else max(position, state.truncated_at)
        state = TableState(state.spec, mark)
        self.target.save_table(self.view.name, topic, state)
        return state

    def _follow_schemas(
        self, topic: str, work: _TopicWork, state: TableState | None
    ) -> TableState | None:
        """Create the table, or evolve it to every value schema in the batch.

        Planned against the state read at the start of the batch; if anything must change,
        the target's shape lock is taken and the plan is made again against the state read
        under it (another process of the group may just have made the same change)."""
        firsts = _firsts(work.records)
        final, steps = plan_steps(work.config, firsts, state)
        if not steps:
            return final
        self.target.lock_shapes()
        fresh = self.target.load_tables(self.view.name).get(topic)
        final, steps = plan_steps(work.config, firsts, fresh)
        for step in steps:
            if isinstance(step, Evolution):
                self.target.alter_table(step)
            else:
                self.target.create_table(step)
        if final is not None and steps:
            self.target.save_table(self.view.name, topic, final)
        return final

    def _shape(self, topic: str, spec: TableSpec, record: ChangeRecord) -> RowShape:
        key_schema, value_schema = record.key_schema, record.value_schema
        key = (
            topic,
            key_schema.id if key_schema else None,
            value_schema.id if value_schema else None,
        )
        cached = self._shapes.get(key)
        if cached is not None and cached[0] is spec:  # identity: a changed table is a new spec
            return cached[1]
        assert record.key_schema is not None
        shape = row_shape(
            spec,
            self.target.dialect,
            record.key_schema.schema,
            _schema(record),
            self.topics[topic].filter,
        )
        self._shapes[key] = (spec, shape)
        return shape

    def _stage(
        self, topic: str, state: TableState, compacted: CompactedBatch
    ) -> tuple[list[StagedRow], list[BadRecord]]:
        """The staged rows of the surviving changes, in order: runs of records of one pair of
        writer schemas in C (``_speedups.stage``), what it leaves one by one in Python."""
        rows: list[StagedRow] = []
        bad: list[BadRecord] = []
        mark = state.truncated_at
        makers: dict[tuple[int, int], _Maker] = {}
        records = list(compacted.changes.values())
        i, count = 0, len(records)
        while i < count:
            record = records[i]
            if mark is not None and record.position < mark:
                i += 1
                continue
            ids = (id(record.key_schema), id(record.value_schema))
            maker = makers.get(ids)
            if maker is None:
                shape = self._shape(topic, state.spec, record)
                maker = makers[ids] = _Maker(shape, record.value_schema is None)
            if maker.native:
                start, i = i, maker.stage_run(records, i, rows, mark, record)
                if i > start:
                    continue
            try:
                rows.append(maker.staged(record))
            except (RecordError, ValueError, TypeError, KeyError) as exc:
                bad.append(_bad(record, f"cannot apply: {exc!r}"))
            i += 1
        return rows, bad


class _Maker:
    """``RowShape.params`` for the common case, fast: every field of the table is in the
    writer schemas, so the parameters are two ``itemgetter`` calls and the converters of the
    columns that have one (anything else goes through the shape). Runs of such records are
    staged in C (``native``: no row filter, and every field there, or the maker of deletes,
    ``deletes``: records without a value schema)."""

    def __init__(self, shape: RowShape, deletes: bool = False) -> None:
        self.shape = shape
        self.filtered = shape.row_filter is not None
        self.convert = [(i, c) for i, c in enumerate(shape.converters) if c is not None]
        values = shape.value_fields
        self.fast = None not in values
        self.keys = _getter([*shape.key_fields])
        self.values = _getter([f for f in values if f is not None])
        self.native = not self.filtered and (self.fast or deletes)
        self._fields = (shape.key_fields, tuple(f for f in values if f is not None))
        self._converters = list(shape.converters)

    def stage_run(
        self, records: list[ChangeRecord], start: int, rows: list[StagedRow], mark: bytes | None,
        first: ChangeRecord,
    ) -> int:  # fmt: skip
        """Stage ``records[start:]`` into ``rows`` in C while they have ``first``'s writer
        schemas and nothing unusual; the index of the first record left to Python."""
        return _speedups.stage(
            records, start, rows, mark, first.key_schema, first.value_schema, *self._fields,
            self._converters, StagedRow,
        )  # fmt: skip

    def staged(self, record: ChangeRecord) -> StagedRow:
        """The database form of a change: a delete if there is no row or the filter drops it."""
        key, value = record.key, record.value
        assert key is not None  # truncates never reach staging
        if value is None or (self.filtered and not self.shape.keeps(value)):
            return StagedRow(True, record.position, self.shape.key_params(key))
        if not self.fast:
            return StagedRow(False, record.position, self.shape.params(key, value))
        try:
            row = self.keys(key) + self.values(value)
        except KeyError:  # a record without some field of its schema: the shape says None
            return StagedRow(False, record.position, self.shape.params(key, value))
        if self.convert:
            cells = list(row)
            for i, convert in self.convert:
                if cells[i] is not None:
                    cells[i] = convert(cells[i])
            row = tuple(cells)
        return StagedRow(False, record.position, row)


def _getter(fields: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A mapping → the tuple of its ``fields`` values (``itemgetter`` returns a bare value for
    one field)."""
    if len(fields) == 1:
        (only,) = fields
        return lambda d: (d[only],)
    if not fields:
        return lambda d: ()
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]] = itemgetter(*fields)
    return get


def _firsts(records: Sequence[ChangeRecord]) -> list[ChangeRecord]:
    """One record per pair of writer schemas, in order of first appearance (identity: the
    decoder hands out one ``WriterSchema`` object per registry id)."""
    out: dict[tuple[int, int], ChangeRecord] = {}
    last: tuple[object, object] = (object(), object())
    for r in records:
        if r.key_schema is not last[0] or r.value_schema is not last[1]:
            last = (r.key_schema, r.value_schema)
            out.setdefault((id(r.key_schema), id(r.value_schema)), r)
    return list(out.values())


def plan_steps(
    config: TopicConfig, firsts: Sequence[ChangeRecord], state: TableState | None
) -> tuple[TableState | None, list[TableSpec | Evolution]]:
    """The table after following the writer schemas of ``firsts``, and the steps there (a
    spec to create, evolutions to apply); ``SchemaChangeError`` if one cannot be followed."""
    steps: list[TableSpec | Evolution] = []
    for record in firsts:
        if record.key_schema is None:
            continue  # a truncate
        new = table_spec(config, record.key_schema.schema, _schema(record))
        if state is None:
            state = TableState(new, None)
            steps.append(new)
            continue
        evolution = evolve(state.spec, new)
        if evolution.changes:
            steps.append(evolution)
            state = TableState(evolution.spec, state.truncated_at)
    return state, steps


def _schema(record: ChangeRecord) -> Mapping[str, Any] | None:
    return record.value_schema.schema if record.value_schema else None


def _bad(record: Received, error: str) -> BadRecord:
    if isinstance(record, BadRecord):
        return record
    return BadRecord(record.topic, record.partition, record.offset, error)
