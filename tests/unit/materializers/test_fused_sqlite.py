"""The SQLite view's fused apply (``fused``, ``_fused.c``) leaves a view database
exactly as the Python path does, on random batches, kills included, and leaves to the Python
path every batch it cannot take exactly so."""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.materializers import _fused
from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import RecordDecoder, encode
from strangler.materializers.fused import FastApply, fast_apply
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.sqlite_target import SqliteTarget
from strangler.materializers.tables import TableSpec
from strangler.materializers.target import Target
from tests.unit.materializers.changelog import KEY, TOPIC, VALUE_SCHEMAS, Event, normalise, replay
from tests.unit.materializers.crashes import (
    Clock,
    Crash,
    Mortal,
    batches_strategy,
    crashes_strategy,
    events_strategy,
    positions,
)
from tests.unit.materializers.test_property_sqlite import read_view

pytestmark = pytest.mark.unit

SCHEMAS = StaticSchemas({KEY.id: KEY.schema, **{s.id: s.schema for s in VALUE_SCHEMAS.values()}})


def message(
    offset: int, key: bytes | None, value: bytes | None, position: str, op: bytes | None = None,
    topic: str = TOPIC, extra: Sequence[tuple[str, bytes]] = (), partition: int = 0,
) -> Message:  # fmt: skip
    op = op if op is not None else (b"u" if value is not None else b"d")
    headers: list[tuple[str, str | bytes | None]] = [("op", op), ("position", position.encode())]
    headers += extra
    return Message(
        topic=topic, partition=partition, offset=offset, key=key, value=value, headers=headers
    )


def payload(data: bytes | None) -> bytes:
    assert data is not None
    return data


def lsn(n: int) -> str:
    return f"{n >> 32:X}/{n & 0xFFFFFFFF:X}"


def changelog_messages(events: Sequence[Event], steps: Sequence[int]) -> list[Message]:
    """The Kafka records of the model changelog (as the connector frames them)."""
    key_schema = fastavro.parse_schema(dict(KEY.schema))
    out = []
    for offset, (event, pos) in enumerate(zip(events, positions(steps), strict=False)):
        if event.key is None:
            out.append(
                message(offset, b"__strangler_truncate__", lsn(pos).encode(), lsn(pos), b"t")
            )
            continue
        key = encode(KEY.id, key_schema, {"id": event.key})
        value = None
        if event.values is not None:
            schema = VALUE_SCHEMAS[event.version]
            row = {f["name"]: event.values.get(f["name"]) for f in schema.schema["fields"]}
            row["id"] = event.key
            value = encode(schema.id, fastavro.parse_schema(dict(schema.schema)), row)
        out.append(message(offset, key, value, lsn(pos)))
    return out


def view_config(db: Path, **topic: Any) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"sqlite": {"path": str(db)}},
            "topics": [{"topic": TOPIC, "table": "items", **topic}],
        }
    )


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a view database, rows sorted (dead letters without their time)."""
    conn = sqlite3.connect(db)
    out = {}
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    for (name,) in names:
        if name.startswith("sqlite_"):
            continue
        cur = conn.execute(f'SELECT * FROM "{name}"')
        cols = [d[0] for d in cur.description]
        rows = [tuple(v for c, v in zip(cols, r, strict=True) if c not in ("id", "at"))
                if name == "_strangler_dead_letters" else r for r in cur.fetchall()]  # fmt: skip
        out[name] = sorted(rows, key=repr)
    conn.close()
    return out


def apply_all(
    view: ViewConfig, target: Target, messages: Sequence[Message], sizes: Sequence[int],
    schemas: StaticSchemas = SCHEMAS, fast: bool = True,
) -> FastApply | None:  # fmt: skip
    """Apply ``messages`` in batches of ``sizes`` as the view runner does: the fused apply
    first (if ``fast``), the Python path for the batches it leaves; from the stored offsets
    on (a PostgreSQL view's batch is committed while the next one is scanned)."""
    applier, decoder = Applier(view, target), RecordDecoder(view.topics, schemas)
    fused = fast_apply(applier, decoder) if fast else None
    assert fused is not None or not fast
    cycle = itertools.cycle(sizes)

    def chunks(offset: int) -> Iterator[Sequence[Message]]:
        while offset < len(messages):
            chunk = messages[offset : offset + next(cycle)]
            offset += len(chunk)
            yield chunk

    apply_chunks(fused, applier, decoder, chunks(applier.stored_offsets().get((TOPIC, 0), 0)))
    return fused


def apply_chunks(
    fused: FastApply | None, applier: Applier, decoder: RecordDecoder,
    chunks: Iterable[Sequence[Message]],
) -> None:  # fmt: skip
    """Apply each chunk as the view runner does: the fused apply first (if any), the Python
    path for the batches it leaves; at the end, wait for a commit that is out."""
    for chunk in chunks:
        for left in [chunk] if fused is None else fused.apply(chunk):
            applier.apply(decoder.decode_all(left))
    for left in [] if fused is None else fused.settle():
        applier.apply(decoder.decode_all(left))


@contextmanager
def two_views() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp) / "fast.db", Path(tmp) / "python.db"


def same_as_python_path(
    messages: Sequence[Message], sizes: Sequence[int], schemas: StaticSchemas = SCHEMAS,
    **topic: Any,
) -> FastApply:  # fmt: skip
    """Apply ``messages`` both ways; assert the two databases are equal; the fused apply."""
    with two_views() as (fast_db, python_db):
        fast_target, python_target = SqliteTarget(fast_db), SqliteTarget(python_db)
        try:
            fused = apply_all(view_config(fast_db, **topic), fast_target, messages, sizes, schemas)
            apply_all(view_config(python_db, **topic), python_target, messages, sizes, schemas,
                      fast=False)  # fmt: skip
        finally:
            fast_target.close()
            python_target.close()
        assert dump(fast_db) == dump(python_db)
    assert fused is not None
    return fused


@settings(max_examples=40, deadline=None)
@given(events_strategy, st.lists(st.sampled_from([0, 0, 1, 2]), min_size=40, max_size=40),
       batches_strategy)  # fmt: skip
def test_the_database_is_the_python_paths(
    events: Sequence[Event], steps: list[int], sizes: list[int]
) -> None:
    same_as_python_path(changelog_messages(events, steps), sizes)


def test_a_plain_changelog_is_applied_by_the_fused_apply() -> None:
    """Upserts, deletes and repeated keys in batches of 7: after the first batch (the table is
    created by the Python path) every batch is the fused apply's."""
    events = [Event(k % 5, {"name": f"n{k}é", "amount": k}) for k in range(40)]
    events += [Event(k, None) for k in range(3)] + [Event(9, {"name": None, "amount": -1})]
    fused = same_as_python_path(changelog_messages(events, [1] * 44), [7])
    assert fused.declined == 1  # the first batch


class CrashingSqlite(Mortal, SqliteTarget):
    """A SQLite target that dies at chosen calls (see crashes.CrashingTarget)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        super().__init__(path)
        self.clock = clock

    def begin(self) -> None:
        self._tick()
        super().begin()

    def commit(self) -> None:
        self._tick()
        super().commit()

    def upsert(
        self,
        spec: TableSpec,
        execute: Callable[[str], object],
        update_first: Callable[[str, str], object] | None = None,
    ) -> None:
        self._tick()
        super().upsert(spec, execute, update_first)

    def save_offsets(self, view: str, offsets: Any) -> None:
        self._tick()
        super().save_offsets(view, offsets)

    def rollback(self) -> None:
        if not self.dead:
            super().rollback()


@settings(max_examples=40, deadline=None)
@given(events_strategy, st.lists(st.sampled_from([0, 0, 1, 2]), min_size=40, max_size=40),
       batches_strategy, crashes_strategy)  # fmt: skip
def test_killed_and_restarted_the_view_is_a_sequential_replay(
    events: Sequence[Event], steps: list[int], sizes: list[int], crash_at: frozenset[int]
) -> None:
    messages = changelog_messages(events, steps)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "view.db"
        clock = Clock(crash_at)
        while True:
            target = CrashingSqlite(db, clock)
            try:
                apply_all(view_config(db), target, messages, sizes)
                break
            except Crash:
                pass
            finally:
                target.close()
        columns, rows = read_view(db)
    assert rows == normalise(replay(events), columns)


# ---- every kind of value the C reader binds -------------------------------------------------

WIDE_KEY = {"type": "record", "name": "K", "fields": [
    {"name": "a", "type": "long"}, {"name": "b", "type": "string"}, {"name": "c", "type": "bytes"},
]}  # fmt: skip
WIDE_VALUE: dict[str, Any] = {
    "type": "record",
    "name": "V",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "i", "type": ["null", "int"]},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": ["null", "double"]},
        {"name": "s", "type": ["null", "string"]},
        {"name": "raw", "type": "bytes"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y_2"]}},
        {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ts", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "tsm", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "ltm", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    ],
}
WIDE_SCHEMAS = StaticSchemas({7: WIDE_KEY, 8: WIDE_VALUE})
FIRST_US, LAST_US = -62135596800 * 10**6, 253402300799999999  # 0001-01-01 .. 9999-12-31
_micros = st.one_of(
    st.integers(FIRST_US, LAST_US), st.sampled_from([0, -1, 1, FIRST_US, LAST_US, 10**6])
)
_texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6)

wide_rows = st.fixed_dictionaries({
    "flag": st.booleans(), "i": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    "l": st.integers(-(2**63), 2**63 - 1),
    "f": st.floats(width=32, allow_nan=False), "d": st.one_of(st.none(), st.floats()),
    "s": st.one_of(st.none(), _texts), "raw": st.binary(max_size=4),
    "e": st.sampled_from(["X", "Y_2"]), "fx": st.binary(min_size=3, max_size=3),
    "day": st.integers(-719162, 2932896), "ts": st.one_of(st.none(), _micros),
    "tsm": st.integers(FIRST_US // 1000, LAST_US // 1000), "lts": _micros,
    "ltm": st.integers(FIRST_US // 1000, LAST_US // 1000),
})  # fmt: skip
wide_keys = st.tuples(st.integers(-3, 3), st.sampled_from(["", "k", "ké\x00"]),
                      st.sampled_from([b"", b"\x00", b"b"]))  # fmt: skip


def wide_messages(changes: Sequence[tuple[tuple[int, str, bytes], dict[str, Any] | None]]
                  ) -> list[Message]:  # fmt: skip
    key_schema = fastavro.parse_schema(WIDE_KEY)
    out = []
    for offset, ((a, b, c), row) in enumerate(changes):
        key = encode(7, key_schema, {"a": a, "b": b, "c": c})
        value = None if row is None else _wide_value(row)
        out.append(message(offset, key, value, lsn(offset // 3 + 1)))
    return out


def _wide_value(row: dict[str, Any]) -> bytes:
    """A framed value written with the raw ints of the date and timestamps (fastavro's writer
    would want datetimes for logical types)."""
    plain = {"type": "record", "name": "V", "fields": [
        {**f, "type": _without_logical(f["type"])} for f in WIDE_VALUE["fields"]
    ]}  # fmt: skip
    return encode(8, fastavro.parse_schema(plain), row)


def _without_logical(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        return [_without_logical(t) for t in avro_type]
    if isinstance(avro_type, dict) and "logicalType" in avro_type:
        return avro_type["type"]
    return avro_type


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(wide_keys, st.one_of(st.none(), wide_rows, wide_rows)), min_size=1,
                max_size=30), batches_strategy)  # fmt: skip
def test_every_kind_is_bound_as_the_python_path_binds_it(
    changes: list[tuple[tuple[int, str, bytes], dict[str, Any] | None]], sizes: list[int]
) -> None:
    fused = same_as_python_path(wide_messages(changes), sizes, WIDE_SCHEMAS)
    if changes[0][1] is not None:  # (a first delete makes a table of key columns only)
        assert fused.declined == 1  # only the first batch: the Python path creates the table


def _wide_row(**changed: Any) -> dict[str, Any]:
    row = {"flag": True, "i": 1, "l": 2, "f": 0.5, "d": None, "s": "s", "raw": b"", "e": "X",
           "fx": b"abc", "day": 0, "ts": 0, "tsm": 0, "lts": 0, "ltm": 0}  # fmt: skip
    return {**row, **changed}


def test_a_timestamp_beyond_year_9999_is_left_to_the_python_path() -> None:
    changes = [((1, "a", b""), _wide_row()), ((2, "a", b""), _wide_row(ts=LAST_US + 1))]
    changes += [((3, "a", b""), _wide_row())]
    fused = same_as_python_path(wide_messages(changes), [1, 2], WIDE_SCHEMAS)
    assert fused.declined == 2  # the first, and the one with the record Python dead-letters


def test_invalid_utf8_is_left_to_the_python_path() -> None:
    good = wide_messages([((1, "a", b""), _wide_row(s="ok"))])
    bad_value = payload(good[0].value()).replace(b"\x04ok", b"\x04\xed\xa0")  # a UTF-8 surrogate
    assert bad_value != good[0].value()
    bad = message(1, good[0].key(), bad_value, lsn(2))
    fused = same_as_python_path([good[0], bad], [1], WIDE_SCHEMAS)
    assert fused.declined == 2


def test_a_key_not_in_its_canonical_encoding_is_left_to_the_python_path() -> None:
    first = changelog_messages([Event(1, {"name": "a"}), Event(1, {"name": "b"})], [1, 1])
    # id 1 is zig-zag 2: b"\x02"; b"\x82\x00" is the same number written in two bytes
    long_form = payload(first[1].key())[:5] + b"\x82\x00"
    second = message(1, long_form, first[1].value(), lsn(2))
    fused = same_as_python_path([first[0], second], [1], SCHEMAS)
    assert fused.declined == 2


def test_a_batch_with_two_key_schemas_is_left_to_the_python_path() -> None:
    other_key = {**KEY.schema, "doc": "the same key, registered again"}
    schemas = StaticSchemas({**{k: SCHEMAS.schema(k) for k in (1, 2, 3)}, 9: other_key})
    msgs = changelog_messages([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 1])
    rekeyed = message(
        2, b"\x00\x00\x00\x00\x09" + payload(msgs[1].key())[5:], msgs[1].value(), lsn(3)
    )
    fused = same_as_python_path([msgs[0], msgs[1], rekeyed], [1, 2], schemas)
    assert fused.declined == 2


def test_a_row_filter_keeps_the_python_path() -> None:
    msgs = changelog_messages([Event(k, {"name": "a", "amount": k}) for k in range(6)], [1] * 6)
    fused = same_as_python_path(
        msgs, [2], filter={"all": [{"column": "amount", "op": "gt", "value": 2}]}
    )
    assert fused.declined == 3  # every batch


def test_integer_positions_go_through_the_decoder() -> None:
    events = [Event(k % 3, {"name": str(k)}) for k in range(9)]
    msgs = [
        message(i - 1, m.key(), m.value(), str(i * 10), extra=[("position_kind", b"integer")])
        for i, m in enumerate(changelog_messages(events, [1] * 9), start=1)
    ]
    fused = same_as_python_path(msgs, [3])
    assert fused.declined == 1  # the first batch


OTHER = "shop.public.other"


def interleaved_messages() -> list[Message]:
    """Changes of two topics with two partitions each, interleaved, positions out of order."""
    base = changelog_messages([Event(k % 7, {"name": f"x{k}", "amount": k}) for k in range(60)],
                              [1, 0, 2] * 20)  # fmt: skip
    return [
        message(i // 4, m.key(), m.value(), lsn(1000 - i if i % 9 == 0 else i + 1),
                topic=OTHER if i % 2 else TOPIC, partition=(i // 2) % 2)
        for i, m in enumerate(base)
    ]  # fmt: skip


def test_two_topics_and_their_partitions_interleaved() -> None:
    """Offsets and positions per partition, rows per table, as the Python path stores them."""
    msgs = interleaved_messages()
    dumps = []
    for fast in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "v.db"
            view = ViewConfig.model_validate({
                "name": "v", "target": {"sqlite": {"path": str(db)}},
                "topics": [{"topic": TOPIC, "table": "items"}, {"topic": OTHER, "table": "others"}],
            })  # fmt: skip
            target = SqliteTarget(db)
            applier, decoder = Applier(view, target), RecordDecoder(view.topics, SCHEMAS)
            fused = fast_apply(applier, decoder) if fast else None
            apply_chunks(fused, applier, decoder, (msgs[i : i + 13] for i in range(0, 60, 13)))
            target.close()
            dumps.append(dump(db))
            if fused is not None:
                assert fused.declined == 1  # the first batch: the Python path made the tables
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["_strangler_offsets"]) == 4


def test_the_c_module_uses_the_sqlite3_modules_library() -> None:
    """The fused apply binds on sqlite3's own handles: only with one SQLite in the process."""
    assert _fused.same_library == 1
    with tempfile.TemporaryDirectory() as tmp:
        target = SqliteTarget(Path(tmp) / "v.db")
        try:
            assert _fused.filename(target.conn) is not None
            assert _fused.filename(object()) is None
        finally:
            target.close()
