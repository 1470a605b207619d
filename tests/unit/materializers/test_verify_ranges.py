"""The comparison engine of ``strangler verify`` on in-memory sides: ranges cut by source keys,
hashes, drill-down to rows, and the re-check that tells lag from divergence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from strangler.core import avro
from strangler.materializers.verify import Comparison, Layout, digest
from strangler.materializers.verify_readers import Key, line_key

pytestmark = pytest.mark.unit

LAYOUT = Layout(("id", "name", "qty"), (avro.LONG, avro.STRING, avro.INT), 1)


def row(key: int, name: str | None = None, qty: int = 1) -> str:
    return f"{key}\t{name or f'item {key}'}\t{qty}"


class Side:
    """Lines in memory, served in key order in small blocks; ``later`` replaces the lines
    that ``fetch`` returns after ``after_fetches`` calls (a side that catches up)."""

    def __init__(self, lines: list[str], label: str = "side", block: int = 7) -> None:
        self.label, self.block = label, block
        self.current = lines
        self.later: list[str] | None = None
        self.fetches = 0

    def count(self) -> int:
        return len(self.current)

    def lines(self) -> Iterator[list[str]]:
        for start in range(0, len(self.current), self.block):
            yield self.current[start : start + self.block]

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        self.fetches += 1
        if self.later is not None:
            self.current = self.later
        found = {line_key(line, 1): line for line in self.current}
        return {k: found[k] for k in keys if k in found}

    def close(self) -> None:
        pass


def compare(source: list[str], view: list[str], settle_s: float = 0.0) -> Comparison:
    return Comparison(LAYOUT, Side(source), Side(view), range_rows=10, settle_s=settle_s)


def test_equal_sides_are_equal_range_by_range() -> None:
    lines = [row(k) for k in range(1, 96)]
    result = compare(lines, list(lines)).run("t")
    assert result.equal
    assert (result.source_rows, result.view_rows, result.ranges) == (95, 95, 10)
    assert result.ranges_differing == 0


def test_missing_extra_and_different_rows_are_found_exactly() -> None:
    source = [row(k) for k in range(1, 2001)]
    changed = {500: row(500, qty=7), 1000: row(1000, "renamed")}
    view = [changed.get(k, row(k)) for k in range(1, 2001) if k != 1234] + [row(5000)]
    comparison = Comparison(LAYOUT, Side(source), Side(view), range_rows=1000, settle_s=0)
    result = comparison.run("t")
    found = {(d.kind, d.key["id"], tuple(d.columns)) for d in result.differences}
    assert found == {
        ("different", "500", ("qty",)),
        ("different", "1000", ("name",)),
        ("missing", "1234", ()),
        ("extra", "5000", ()),
    }
    (diff,) = [d for d in result.differences if d.key["id"] == "500"]
    assert diff.source == {"id": "500", "name": "item 500", "qty": "1"}
    assert diff.view == {"id": "500", "name": "item 500", "qty": "7"}
    assert result.ranges_differing == 3  # 500, 1000 and 1234 in two ranges; 5000 after the end


def test_a_view_ahead_of_or_behind_the_source_at_either_end() -> None:
    source = [row(k) for k in range(5, 50)]
    view = [row(k) for k in range(1, 40)]
    result = compare(source, view).run("t")
    kinds = {d.key["id"]: d.kind for d in result.differences}
    assert kinds == {**{str(k): "extra" for k in range(1, 5)},
                     **{str(k): "missing" for k in range(40, 50)}}  # fmt: skip


def test_an_empty_side() -> None:
    assert compare([], []).run("t").equal
    result = compare([], [row(1), row(2)]).run("t")
    assert [d.kind for d in result.differences] == ["extra", "extra"]


def test_lag_that_catches_up_while_settling_is_not_reported() -> None:
    source = [row(k) for k in range(1, 50)]
    view = Side([row(k) for k in range(1, 45)])  # five rows behind
    view.later = list(source)
    result = Comparison(LAYOUT, Side(source), view, range_rows=10, settle_s=5).run("t")
    assert result.equal
    assert result.rechecked == 5 and view.fetches == 1


def test_a_difference_that_persists_is_reported_after_settling() -> None:
    source = [row(k) for k in range(1, 50)]
    view = [row(k, "changed") if k == 3 else row(k) for k in range(1, 50)]
    comparison = Comparison(LAYOUT, Side(source), Side(view), range_rows=10, settle_s=0.5)
    result = comparison.run("t")
    assert [(d.kind, d.key) for d in result.differences] == [("different", {"id": "3"})]
    assert result.seconds >= 0.5


def test_rows_out_of_order_are_matched_by_key() -> None:
    source = [row(k) for k in range(1, 60)]
    view = list(reversed(source))  # a side the database sorted otherwise than Python
    view[10] = row(49, "changed")
    result = compare(source, view).run("t")
    assert [(d.kind, d.key) for d in result.differences] == [("different", {"id": "49"})]


def test_composite_keys_sort_by_each_column() -> None:
    layout = Layout(("order", "line", "qty"), (avro.STRING, avro.INT, avro.INT), 2)
    order = layout.order_key()
    lines = ["b\t10\t1", "a\t9\t1", "b\t9\t1", "a\\tx\t1\t1"]
    assert sorted(lines, key=order) == ["a\t9\t1", "a\\tx\t1\t1", "b\t9\t1", "b\t10\t1"]


def test_equal_ranges_hash_equal() -> None:
    assert digest([row(1), row(2)]) == digest([row(1), row(2)])
    assert digest([row(1), row(2)]) != digest([row(2), row(1)])
    assert digest([row(1), row(2)]) != digest([row(1)])


def test_every_difference_is_counted_and_the_first_ones_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("strangler.materializers.verify.REPORTED_LIMIT", 3)
    source = [row(k) for k in range(1, 30)]
    result = compare(source, [row(k, "x") for k in range(1, 30)] + [row(99)]).run("t")
    assert (result.count("different"), result.count("extra"), result.count("missing")) == (29, 1, 0)
    assert [d.key["id"] for d in result.differences] == ["1", "2", "3"]
    assert not result.equal
