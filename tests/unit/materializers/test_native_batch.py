"""The native batch helpers: compaction by key in log order, and ISO text of dates and times,
give exactly what their Python references give."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers.compaction import compact, compact_python
from strangler.materializers.records import ChangeRecord

pytestmark = pytest.mark.unit

TOPIC = "t"

events = st.lists(
    st.tuples(
        st.sampled_from([Op.UPDATE, Op.CREATE, Op.DELETE, Op.TRUNCATE]),
        st.integers(0, 5),  # key
        st.integers(0, 12),  # position
        st.integers(0, 1),  # a second key column, for composite keys
    ),
    max_size=40,
)


def _records(batch: list[tuple[Op, int, int, int]]) -> list[ChangeRecord]:
    out = []
    for offset, (op, key, position, second) in enumerate(batch):
        at = position.to_bytes(2, "big")[: 1 + position % 2]  # positions of unequal lengths too
        if op is Op.TRUNCATE:
            out.append(ChangeRecord(TOPIC, 0, offset, op, at, None, None))
            continue
        value = None if op is Op.DELETE else {"id": key, "n": offset}
        out.append(ChangeRecord(TOPIC, 0, offset, op, at, {"id": key, "k2": second}, value))
    return out


def _same(records: list[ChangeRecord]) -> None:
    got, want = compact(records), compact_python(records)
    assert got.truncate == want.truncate
    assert list(got.changes.items()) == list(want.changes.items())  # order too
    assert all(got.changes[k] is want.changes[k] for k in want.changes)


@settings(max_examples=500, deadline=None)
@given(events)
def test_compaction_as_the_python_loop(batch: list[tuple[Op, int, int, int]]) -> None:
    _same(_records(batch))


class Key(dict[str, Any]):
    """A key mapping that is not exactly a dict (the C loop asks it for its values)."""


def test_keys_that_are_not_dicts_and_errors() -> None:
    records = _records([(Op.UPDATE, 1, 3, 0), (Op.UPDATE, 1, 2, 0), (Op.DELETE, 2, 1, 1)])
    for r in records:
        r.key = Key(r.key or {})
    _same(records)
    broken = ChangeRecord(TOPIC, 0, 0, Op.UPDATE, b"\x01", None, None)
    with pytest.raises(AttributeError):
        compact([broken])
    with pytest.raises(TypeError):
        _speedups.compact(5, Op.TRUNCATE)  # type: ignore[arg-type]
    assert compact([]).changes == {} and compact([]).truncate is None


times = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=st.just(datetime.UTC)),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
    st.times(),
    st.times(timezones=st.just(datetime.UTC)),
)


@settings(max_examples=500, deadline=None)
@given(times)
def test_isoformat_as_python(value: datetime.date | datetime.time) -> None:
    assert _speedups.isoformat(value) == value.isoformat()


def test_isoformat_edges() -> None:
    utc = datetime.UTC
    values: list[datetime.date | datetime.time] = [
        datetime.datetime(1, 1, 1, tzinfo=utc),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc),
        datetime.datetime(999, 1, 1, 0, 0, 0, 1),
        datetime.date(1, 1, 1),
        datetime.time(23, 59, 59, 999999),
        datetime.datetime(2024, 5, 1, fold=1, tzinfo=utc),
    ]
    for value in values:
        assert _speedups.isoformat(value) == value.isoformat()
    with pytest.raises(AttributeError):
        _speedups.isoformat(5)
