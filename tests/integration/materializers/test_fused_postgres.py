"""The PostgreSQL view's fused apply (``fused.FastApply`` with ``Batch.copy`` writing the
COPY binary data straight from the Avro payloads) leaves a view schema exactly as the Python
path does, on a real server, on random batches, kills included, and leaves to the Python path
every batch it cannot take exactly so."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import fastavro
import psycopg
import pytest
from confluent_kafka import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import RecordDecoder, encode
from strangler.materializers.fused import FastApply, fast_apply
from strangler.materializers.postgres_target import Copied, PostgresTarget
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.tables import TableSpec
from strangler.materializers.target import StagedRow
from tests.integration.materializers.views import postgres_rows
from tests.unit.materializers.changelog import KEY, TOPIC, Event, normalise, replay
from tests.unit.materializers.crashes import (
    Clock,
    Crash,
    Mortal,
    batches_strategy,
    crashes_strategy,
    events_strategy,
)
from tests.unit.materializers.test_fused_sqlite import (
    LAST_US,
    OTHER,
    SCHEMAS,
    WIDE_SCHEMAS,
    _wide_row,
    apply_all,
    apply_chunks,
    changelog_messages,
    interleaved_messages,
    lsn,
    message,
    payload,
    wide_keys,
    wide_messages,
    wide_rows,
)

pytestmark = pytest.mark.integration

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def view_config(dsn: str, schema: str, **topic: Any) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"postgres": {"dsn": dsn, "schema": schema}},
            "topics": [{"topic": TOPIC, "table": "items", **topic}],
        }
    )


def dump(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a view schema, rows sorted (dead letters without their id and time)."""
    out = {}
    with psycopg.connect(dsn) as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        ).fetchall()
        for (name,) in names:
            cur = conn.execute(f'SELECT * FROM "{schema}"."{name}"'.encode())
            cols = [d.name for d in cur.description or ()]
            rows = cur.fetchall()
            if name == "_strangler_dead_letters":
                rows = [tuple(v for c, v in zip(cols, r, strict=True) if c not in ("id", "at"))
                        for r in rows]  # fmt: skip
            out[name] = sorted((tuple(map(_nan_as_text, r)) for r in rows), key=repr)
    return out


def _nan_as_text(value: Any) -> Any:
    """NaN as "NaN", so that two rows holding it compare equal."""
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


@contextmanager
def schemas(dsn: str) -> Iterator[tuple[str, str]]:
    """Two fresh schemas (fused, Python path), dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = (f"fused_{tag}", f"python_{tag}")
    try:
        yield names
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())


def same_as_python_path(
    dsn: str, messages: Sequence[Message], sizes: Sequence[int],
    schemas_: StaticSchemas = SCHEMAS, **topic: Any,
) -> FastApply:  # fmt: skip
    """Apply ``messages`` both ways; assert the two schemas are equal; the fused apply."""
    with schemas(dsn) as (fused_schema, python_schema):
        fused_target = PostgresTarget(dsn, fused_schema)
        python_target = PostgresTarget(dsn, python_schema)
        try:
            fused = apply_all(view_config(dsn, fused_schema, **topic), fused_target, messages,
                              sizes, schemas_)  # fmt: skip
            apply_all(view_config(dsn, python_schema, **topic), python_target, messages, sizes,
                      schemas_, fast=False)  # fmt: skip
        finally:
            fused_target.close()
            python_target.close()
        assert dump(dsn, fused_schema) == dump(dsn, python_schema)
    assert fused is not None
    return fused


@EXAMPLES
@given(events=events_strategy,
       steps=st.lists(st.sampled_from([0, 0, 1, 2]), min_size=40, max_size=40),
       sizes=batches_strategy)  # fmt: skip
def test_the_schema_is_the_python_paths(
    pg_database: str, events: Sequence[Event], steps: list[int], sizes: list[int]
) -> None:
    same_as_python_path(pg_database, changelog_messages(events, steps), sizes)


def test_a_plain_changelog_is_applied_by_the_fused_apply(pg_database: str) -> None:
    """New keys (COPYed straight into the table), then updates of them and deletes (staged):
    after the first batch (the table is made by the Python path) every batch is fused."""
    events = [Event(k, {"name": f"n{k}é", "amount": k}) for k in range(20)]
    events += [Event(k % 25, {"name": f"again{k}", "amount": -k}) for k in range(30)]
    events += [Event(k, None) for k in range(3)] + [Event(9, {"name": None, "amount": -1})]
    fused = same_as_python_path(pg_database, changelog_messages(events, [1] * 54), [7])
    assert fused.declined == 1


@EXAMPLES
@given(changes=st.lists(st.tuples(wide_keys, st.one_of(st.none(), wide_rows, wide_rows)),
                        min_size=1, max_size=30),
       sizes=batches_strategy)  # fmt: skip
def test_every_kind_is_written_as_the_python_path_writes_it(
    pg_database: str,
    changes: list[tuple[tuple[int, str, bytes], dict[str, Any] | None]],
    sizes: list[int],
) -> None:
    """Booleans, ints, longs, floats (into real), doubles, text, bytes, enums, fixed, dates and
    the four timestamps at years 1 and 9999; keys of a long, a string and bytes. A text with a
    NUL (PostgreSQL refuses it) leaves its batch to the Python path, which dead-letters it."""
    same_as_python_path(pg_database, wide_messages(changes), sizes, WIDE_SCHEMAS)


def test_plain_kinds_are_taken_by_the_fused_apply(pg_database: str) -> None:
    changes: list[tuple[tuple[int, str, bytes], dict[str, Any] | None]] = [
        ((k, "k", b"\x00"), _wide_row(l=k, s=f"s{k}", ts=k * 10**6)) for k in range(6)
    ]
    changes += [((k, "k", b"\x00"), None) for k in range(2)]
    fused = same_as_python_path(pg_database, wide_messages(changes), [2], WIDE_SCHEMAS)
    assert fused.declined == 1  # the first batch: the Python path made the table


@pytest.mark.parametrize(
    "changed",
    [{"ts": LAST_US + 1}, {"s": "nul\x00"}],
    ids=["timestamp beyond 9999", "text with a NUL"],
)
def test_a_value_the_python_path_refuses_is_left_to_it(
    pg_database: str, changed: dict[str, Any]
) -> None:
    changes = [((1, "a", b""), _wide_row()), ((2, "a", b""), _wide_row(**changed))]
    changes += [((3, "a", b""), _wide_row())]
    fused = same_as_python_path(pg_database, wide_messages(changes), [1, 2], WIDE_SCHEMAS)
    assert fused.declined == 2  # the first, and the one with the record Python dead-letters


def test_invalid_utf8_is_left_to_the_python_path(pg_database: str) -> None:
    good = wide_messages([((1, "a", b""), _wide_row(s="ok"))])
    bad_value = payload(good[0].value()).replace(b"\x04ok", b"\x04\xed\xa0")  # a UTF-8 surrogate
    bad = message(1, good[0].key(), bad_value, lsn(2))
    fused = same_as_python_path(pg_database, [good[0], bad], [1], WIDE_SCHEMAS)
    assert fused.declined == 2


DECIMAL_VALUE = {"type": "record", "name": "D", "fields": [
    {"name": "id", "type": "long"},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9,
                               "scale": 2}},
]}  # fmt: skip
DECIMAL_WRITTEN = {**DECIMAL_VALUE, "fields": [{"name": "id", "type": "long"},
                                               {"name": "price", "type": "bytes"}]}  # fmt: skip
"""(written with the decimal's unscaled bytes: fastavro's writer would want a Decimal)"""


def test_a_numeric_column_keeps_the_python_path(pg_database: str) -> None:
    key_schema = fastavro.parse_schema(dict(KEY.schema))
    value_schema = fastavro.parse_schema(DECIMAL_WRITTEN)
    msgs = [
        message(i, encode(KEY.id, key_schema, {"id": i % 3}),
                encode(50, value_schema, {"id": i % 3, "price": (1234 + i).to_bytes(2, "big")}),
                lsn(i + 1))
        for i in range(6)
    ]  # fmt: skip
    decimal_schemas = StaticSchemas({KEY.id: KEY.schema, 50: DECIMAL_VALUE})
    fused = same_as_python_path(pg_database, msgs, [2], decimal_schemas)
    assert fused.declined == 3  # every batch


def test_a_row_filter_keeps_the_python_path(pg_database: str) -> None:
    msgs = changelog_messages([Event(k, {"name": "a", "amount": k}) for k in range(6)], [1] * 6)
    fused = same_as_python_path(
        pg_database, msgs, [2], filter={"all": [{"column": "amount", "op": "gt", "value": 2}]}
    )
    assert fused.declined == 3


def test_two_topics_and_their_partitions_interleaved(pg_database: str) -> None:
    msgs = interleaved_messages()
    dumps = []
    with schemas(pg_database) as names:
        for fast, schema in zip((True, False), names, strict=True):
            view = ViewConfig.model_validate({
                "name": "v", "target": {"postgres": {"dsn": pg_database, "schema": schema}},
                "topics": [{"topic": TOPIC, "table": "items"}, {"topic": OTHER, "table": "others"}],
            })  # fmt: skip
            target = PostgresTarget(pg_database, schema)
            applier, decoder = Applier(view, target), RecordDecoder(view.topics, SCHEMAS)
            fused = fast_apply(applier, decoder) if fast else None
            apply_chunks(fused, applier, decoder, (msgs[i : i + 13] for i in range(0, 60, 13)))
            target.close()
            dumps.append(dump(pg_database, schema))
            if fused is not None:
                assert fused.declined == 1
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["_strangler_offsets"]) == 4


def test_a_commit_that_fails_leaves_its_batch_to_the_python_path(pg_database: str) -> None:
    """A row the server refuses (a CHECK constraint added to the view table) fails the fused
    apply's COMMIT, which is waited for while the next batch is scanned: that batch and the
    next go to the Python path, which dead-letters the refused record and applies the rest,
    as the Python path alone does."""
    events = [Event(k, {"name": f"n{k}", "amount": k}) for k in range(10)]
    events += [Event(k, {"name": "again", "amount": -5 if k == 4 else k}) for k in range(9)]
    events += [Event(9, None)]  # (a delete: the batch is staged, not COPYed into the table)
    events += [Event(k, {"name": "last", "amount": 100 + k}) for k in range(10)]
    msgs = changelog_messages(events, [1] * 30)
    dumps, declined = [], []
    with schemas(pg_database) as names:
        for fast, schema in zip((True, False), names, strict=True):
            target = PostgresTarget(pg_database, schema)
            view = view_config(pg_database, schema)
            applier, decoder = Applier(view, target), RecordDecoder(view.topics, SCHEMAS)
            fused = fast_apply(applier, decoder) if fast else None
            applier.apply(decoder.decode_all(msgs[:10]))
            target.conn.execute(f'ALTER TABLE "{schema}".items ADD CHECK (amount >= 0)'.encode())
            apply_chunks(fused, applier, decoder, (msgs[10:20], msgs[20:]))
            target.close()
            dumps.append(dump(pg_database, schema))
            if fused is not None:
                declined.append(fused.declined)
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["_strangler_dead_letters"]) == 1
    assert declined == [2]  # the batch whose commit failed, and the one scanned meanwhile


class CrashingPostgres(Mortal, PostgresTarget):
    """A PostgreSQL target that dies at chosen calls: its connection is closed without a
    commit (the server rolls the transaction back, as for a killed process)."""

    def __init__(self, dsn: str, schema: str, clock: Clock) -> None:
        super().__init__(dsn, schema)
        self.clock = clock

    def begin(self) -> None:
        self._tick()
        super().begin()

    def commit(self) -> None:
        self._tick()
        super().commit()
        self._tick()  # a crash right after the commit landed

    def commit_later(self) -> None:
        self._tick()
        super().commit_later()
        self._tick()  # a crash with the COMMIT sent, not waited for

    def settle(self) -> None:
        if self._committing:
            self._tick()
        super().settle()

    def apply(self, spec: TableSpec, rows: Sequence[StagedRow] | Copied) -> None:
        self._tick()
        super().apply(spec, rows)

    def save_offsets(self, view: str, offsets: Any) -> None:
        self._tick()
        super().save_offsets(view, offsets)

    def rollback(self) -> None:
        if not self.dead:
            super().rollback()


@EXAMPLES
@given(events=events_strategy,
       steps=st.lists(st.sampled_from([0, 0, 1, 2]), min_size=40, max_size=40),
       sizes=batches_strategy, crash_at=crashes_strategy)  # fmt: skip
def test_killed_and_restarted_the_view_is_a_sequential_replay(
    pg_database: str, events: Sequence[Event], steps: list[int], sizes: list[int],
    crash_at: frozenset[int],
) -> None:  # fmt: skip
    messages = changelog_messages(events, steps)
    with schemas(pg_database) as (schema, _):
        clock = Clock(crash_at)
        while True:
            target = CrashingPostgres(pg_database, schema, clock)
            try:
                apply_all(view_config(pg_database, schema), target, messages, sizes)
                break
            except Crash:
                pass
            finally:
                target.close()
        try:
            columns, rows = postgres_rows(pg_database, schema)
        except psycopg.errors.UndefinedTable:  # the log held only truncates: no table needed
            columns, rows = [], {}
    assert rows == normalise(replay(events), columns)
