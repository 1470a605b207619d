"""The native staging of changes and the one-pass survey of a batch give what the Python
staging (``_Maker.staged``) and ``progress`` give, and leave to Python what they cannot do."""

from __future__ import annotations

import datetime
import gc
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers.applier import _Maker, progress
from strangler.materializers.records import BadRecord, ChangeRecord, Received, WriterSchema
from strangler.materializers.shapes import RowShape
from strangler.materializers.target import StagedRow

pytestmark = pytest.mark.unit

KEY = WriterSchema(1, {"type": "record", "name": "K", "fields": []})
V1 = WriterSchema(2, {"type": "record", "name": "V", "fields": []})
V2 = WriterSchema(3, {"type": "record", "name": "V", "fields": []})


def picky(value: Any) -> Any:
    """A converter that refuses some values (as a decimal or a date converter may)."""
    if value == "bad":
        raise ValueError("bad value")
    return f"<{value}>"


SHAPE = RowShape(
    key_fields=("id",),
    value_fields=("name", "at"),
    converters=(None, picky, _speedups.isoformat),
    filter_fields={},
    row_filter=None,
)

names = st.one_of(st.none(), st.sampled_from(["a", "bad", "ü"]))
ats = st.one_of(st.none(), st.datetimes(timezones=st.just(datetime.UTC)))
changes = st.builds(
    lambda key, kind, name, at, position, drop: (key, kind, name, at, position, drop),
    st.integers(0, 3),
    st.sampled_from(["v1", "v1", "v2", "delete"]),
    names,
    ats,
    st.integers(0, 9),
    st.booleans(),
)


def _records(items: list[tuple[Any, ...]]) -> list[ChangeRecord]:
    out = []
    for offset, (key, kind, name, at, position, drop) in enumerate(items):
        pos = bytes([position])
        if kind == "delete":
            out.append(ChangeRecord("t", 0, offset, Op.DELETE, pos, {"id": key}, None, KEY))
            continue
        value = {"id": key, "name": name, "at": at}
        if drop and name is None:
            del value["name"]  # a record without a field of its schema
        schema = V1 if kind == "v1" else V2
        out.append(ChangeRecord("t", 0, offset, Op.UPDATE, pos, {"id": key}, value, KEY, schema))
    return out


def _python_run(
    records: list[ChangeRecord], start: int, mark: bytes | None, maker: _Maker, value: Any
) -> tuple[list[StagedRow], int]:
    """What the C run should do, written with the Python staging."""
    rows: list[StagedRow] = []
    i = start
    while i < len(records):
        r = records[i]
        if mark is not None and r.position < mark:
            i += 1
            continue
        if r.key_schema is not KEY or (r.value is not None and r.value_schema is not value):
            break
        if r.value is not None and (value is None or "name" not in r.value):
            break
        if r.value is not None and r.value.get("name") == "bad":
            break
        rows.append(maker.staged(r))
        i += 1
    return rows, i


@settings(max_examples=400, deadline=None)
@given(st.lists(changes, max_size=25), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 9)))
def test_runs_stage_as_python(items: list[tuple[Any, ...]], start: int, mark: int | None) -> None:
    records = _records(items)
    start = min(start, len(records))
    at = None if mark is None else bytes([mark])
    for value_schema, deletes in ((V1, False), (None, True)):
        maker = _Maker(SHAPE, deletes)
        assert maker.native
        rows: list[StagedRow] = []
        first = ChangeRecord("t", 0, 0, Op.UPDATE, b"", {}, None, KEY, value_schema)
        end = maker.stage_run(records, start, rows, at, first)
        want_rows, want_end = _python_run(records, start, at, maker, value_schema)
        assert (rows, end) == (want_rows, want_end)


@dataclass(slots=True)
class _Seen:
    """A row type with a ``__post_init__``: stage must call it, not fill its slots."""

    delete: bool
    position: bytes
    values: tuple[Any, ...]
    seen: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.seen = True


def test_staged_rows_skip_init_and_the_collector() -> None:
    records = _records([(1, "v1", "a", None, 1, False), (2, "delete", None, None, 2, False)])
    for staged_type in (StagedRow, _Seen, StagedRow):  # a plan per type, made again
        rows: list[Any] = []
        end = _speedups.stage(
            records, 0, rows, None, KEY, V1, *_Maker(SHAPE)._fields, list(SHAPE.converters),
            staged_type,
        )  # fmt: skip
        assert end == 2 and [type(r) for r in rows] == [staged_type] * 2
        assert [(r.delete, r.position, r.values) for r in rows] == [
            (False, b"\x01", (1, "<a>", None)),
            (True, b"\x02", (2,)),
        ]
        if staged_type is StagedRow:
            assert not any(gc.is_tracked(r) for r in rows)
        else:
            assert all(r.seen and gc.is_tracked(r) for r in rows)


def test_a_filtered_or_incomplete_shape_is_not_native() -> None:
    incomplete = RowShape(("id",), ("name", None), (None, None, None), {}, None)
    assert not _Maker(incomplete).native and _Maker(incomplete, True).native
    assert _Maker(SHAPE).native


def test_stage_refuses_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        _speedups.stage([], 0, [], None, KEY, V1, ("id",), (), [], StagedRow)  # short
    with pytest.raises(TypeError):
        _speedups.stage((), 0, [], None, KEY, V1, (), (), [], StagedRow)  # type: ignore[arg-type]


batches = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # topic
        st.integers(0, 2),  # partition
        st.integers(0, 50),  # offset
        st.one_of(st.none(), st.binary(max_size=3)),  # position; None: a bad record
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(batches)
def test_survey_as_python(items: list[tuple[str, int, int, bytes | None]]) -> None:
    batch: list[Received] = []
    for topic, partition, offset, position in items:
        if position is None:
            batch.append(BadRecord(topic, partition, offset, "bad"))
        else:
            batch.append(ChangeRecord(topic, partition, offset, Op.UPDATE, position, {}, {}))
    by_topic, bad, offsets, positions = _speedups.survey(batch, ChangeRecord)
    assert (offsets, positions) == progress(batch)
    assert bad == [r for r in batch if isinstance(r, BadRecord)]
    want: dict[str, list[Received]] = {}
    for r in batch:
        if isinstance(r, ChangeRecord):
            want.setdefault(r.topic, []).append(r)
    assert by_topic == want and list(by_topic) == list(want)


staged_rows = st.lists(
    st.builds(
        StagedRow,
        st.booleans(),
        st.binary(max_size=3),
        st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=4).map(tuple),
    ),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(staged_rows, st.integers(0, 3))
def test_sqlite_params_as_python(rows: list[StagedRow], nkey: int) -> None:
    want_deletes = [(*r.values[:nkey], r.position) for r in rows if r.delete]
    want_upserts = [(*r.values, r.position) for r in rows if not r.delete]
    deletes, upserts = _speedups.sqlite_params(rows, nkey)
    assert (deletes, upserts) == (want_deletes, want_upserts)
    # positions go as bytearrays: the sqlite3 module binds those without an adapter lookup
    assert all(type(params[-1]) is bytearray for params in [*deletes, *upserts])


def test_sqlite_params_share_the_bytearray_of_one_position() -> None:
    shared, other = b"\x00\x01", b"\x00\x02"
    rows = [StagedRow(False, shared, (1,)), StagedRow(True, shared, (2,))]
    rows += [StagedRow(False, other, (3,)), StagedRow(False, shared, (4,))]
    (delete,), upserts = _speedups.sqlite_params(rows, 1)
    blobs = [upserts[0][-1], delete[-1], upserts[1][-1], upserts[2][-1]]
    assert blobs[0] is blobs[1] and blobs[2] is not blobs[0] and blobs[3] is not blobs[0]
    assert blobs == [shared, shared, other, shared]


def test_sqlite_params_refuses_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        _speedups.sqlite_params([StagedRow(False, b"", [1])], 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _speedups.sqlite_params([], -1)
    with pytest.raises(AttributeError):
        _speedups.sqlite_params([object()], 1)
