"""Proving that a view (or a topic) equals its source: ``strangler verify``'s engine.

Both sides are read as canonical lines (``verify_canon``: every value as the SQLite view would
store it, written as text), streamed in key order by readers (``verify_readers``), so the
comparison itself never needs to know which database a line came from.

Algorithm:

1. Counts: both streams are counted as they are read (the CLI asks each side for its
   ``count(*)`` up front only to show progress).
2. Key ranges: the source stream is cut into ranges of ``range_rows`` rows; the view's rows up
   to the last key of each source range form the view's side of that range. Each side's range
   is hashed (BLAKE2b over its lines); equal hashes mean equal ranges.
3. Drill-down: a range whose hashes differ is split into ``FANOUT`` sub-ranges by keys of the
   source, each hashed and compared on both sides, and so on until a sub-range is small enough
   to compare row by row (by key): a key only in the source is *missing*, only in the view
   *extra*, in both with other values *different* (with the differing columns).
4. A common point: the source keeps changing while it is read, and the view follows it a little
   later, so a difference can be nothing but lag. As Debezium-style verifiers do, the differing
   keys are re-read from both sides (by key, a few hundred per query) with growing pauses
   (0.2 s, 0.4 s, ... at most 2 s) until they agree or ``settle_s`` has passed; a key that
   agrees once is dropped. Only differences that persist are reported, so a divergence costs
   ``settle_s`` of waiting; equal tables cost none. With ``settle_s`` = 0 every difference of
   the single pass is reported. (Waiting for the view's stored source positions to pass the
   source's position would need the source's current position, which a replica or a MySQL
   server without GTIDs cannot give cheaply; re-reading works for every source.)

A row that a database orders differently from Python (a collation ORDER BY could not make
byte-wise) lands in another range than its counterpart: both halves of a key are joined by key,
so it is not reported; it only costs time.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from strangler.core.avro import AvroType
from strangler.core.errors import StranglerError
from strangler.materializers.tables import TableSpec
from strangler.materializers.verify_canon import order_function, split_line, unescape
from strangler.materializers.verify_readers import Key, Reader, line_key

DIVERGED_EXIT = 8
"""Exit code of ``strangler verify`` when a view or topic differs from its source."""

RANGE_ROWS = 10_000
LEAF_ROWS = 512
"""Ranges this small are compared row by row (a dict of lines costs less than more hashing)."""
FANOUT = 8
"""A differing range is split into this many sub-ranges, each hashed again."""
REPORTED_LIMIT = 10_000
"""At most this many differing rows are reported one by one (all are counted)."""
RECHECK_LIMIT = 100_000
"""At most this many differing keys are re-checked; more are reported as found."""


class Diverged(StranglerError):
    """A view or topic differs from its source (after settling)."""

    exit_code = DIVERGED_EXIT


@dataclass(frozen=True, slots=True)
class Layout:
    """The compared columns (view names, key columns first) and their Avro types."""

    names: tuple[str, ...]
    types: tuple[AvroType, ...]
    key_count: int

    @classmethod
    def of(cls, spec: TableSpec) -> Layout:
        """The layout of a view table."""
        columns = spec.columns
        return cls(
            tuple(c.name for c in columns), tuple(c.avro_type for c in columns), len(spec.key)
        )

    def order_key(self) -> Callable[[str], Any]:
        """Line → a value sorting like the key columns in both databases."""
        parse = [order_function(t) for t in self.types[: self.key_count]]
        n = self.key_count
        if n == 1:
            first = parse[0]
            return lambda line: first(unescape(line.split("\t", 1)[0]))
        return lambda line: tuple(
            f(unescape(v)) for f, v in zip(parse, line.split("\t", n), strict=False)
        )


@dataclass(slots=True)
class Difference:
    """One key whose row differs: missing from the view, extra in it, or different."""

    kind: str
    key: dict[str, str | None]
    columns: list[str] = field(default_factory=list)
    source: dict[str, str | None] | None = None
    view: dict[str, str | None] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key}
        if self.kind == "different":
            out["columns"] = self.columns
        out["source"], out["view"] = self.source, self.view
        return out


@dataclass(slots=True)
class Result:
    """The comparison of one view table (or topic) with its source table."""

    name: str
    source: str
    source_rows: int = 0
    view_rows: int = 0
    ranges: int = 0
    ranges_differing: int = 0
    differences: list[Difference] = field(default_factory=list)
    """The differing rows in key order (the first ``REPORTED_LIMIT`` of them)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Differing rows by kind (missing, extra, different), all of them."""
    rechecked: int = 0
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    @property
    def equal(self) -> bool:
        return not any(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "status": "equal" if self.equal else "diverged",
            "source_rows": self.source_rows,
            "view_rows": self.view_rows,
            "missing": self.count("missing"),
            "extra": self.count("extra"),
            "different": self.count("different"),
            "ranges": self.ranges,
            "ranges_differing": self.ranges_differing,
            "rechecked_keys": self.rechecked,
            "seconds": round(self.seconds, 3),
            "differences": [d.to_json() for d in self.differences],
            "differences_shown": len(self.differences),
        }


def digest(lines: Sequence[str]) -> bytes:
    """The hash of a range's lines."""
    return hashlib.blake2b("\n".join(lines).encode(), digest_size=16).digest()


Progress = Callable[[int], None]
"""Called with the number of source rows compared so far."""


class _ViewCursor:
    """The view's lines, taken range by range (through a key) from its ordered stream."""

    def __init__(self, blocks: Iterator[list[str]], order: Callable[[str], Any]) -> None:
        self._blocks, self._order = blocks, order
        self._buffer: list[str] = []
        self._pos = 0
        self._done = False
        self.rows = 0

    def _more(self) -> bool:
        block = next(self._blocks, None)
        if block is None:
            self._done = True
            return False
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer.extend(block)
        self.rows += len(block)
        return True

    def through(self, high: Any) -> list[str]:
        """The next lines whose keys are at most ``high``."""
        while not self._done and (
            len(self._buffer) == self._pos or self._order(self._buffer[-1]) <= high
        ):
            self._more()
        end = bisect.bisect_right(self._buffer, high, lo=self._pos, key=self._order)
        taken = self._buffer[self._pos : end]
        self._pos = end
        return taken

    def rest(self) -> list[str]:
        while self._more():
            pass
        taken = self._buffer[self._pos :]
        self._pos = len(self._buffer)
        return taken


def _ranges(blocks: Iterator[list[str]], size: int) -> Iterator[list[str]]:
    """The stream cut into ranges of ``size`` lines."""
    pending: list[str] = []
    for block in blocks:
        pending.extend(block)
        while len(pending) >= size:
            yield pending[:size]
            del pending[:size]
    if pending:
        yield pending


class Comparison:
    """Compares one source reader with one view reader (see the module docstring)."""

    def __init__(
        self,
        layout: Layout,
        source: Reader,
        view: Reader,
        *,
        range_rows: int = RANGE_ROWS,
        settle_s: float = 10.0,
        progress: Progress | None = None,
    ) -> None:
        self.layout, self.source, self.view = layout, source, view
        self.range_rows, self.settle_s = range_rows, settle_s
        self._order = layout.order_key()
        self._progress = progress
        self._pairs: dict[Key, tuple[str | None, str | None]] = {}

    def run(self, name: str) -> Result:
        started = time.monotonic()
        result = Result(name, self.source.label)
        self._pass(result)
        pending = self._settle(result)
        kinds = ["extra" if s is None else "missing" if v is None else "different"
                 for s, v in pending.values()]  # fmt: skip
        result.counts = {kind: kinds.count(kind) for kind in ("missing", "extra", "different")}
        ordered = sorted(pending.items(), key=lambda item: self._order("\t".join(item[0])))
        shown = ordered[:REPORTED_LIMIT]
        result.differences = [self._difference(k, s, v) for k, (s, v) in shown]
        result.seconds = time.monotonic() - started
        return result

    def _pass(self, result: Result) -> None:
        view = _ViewCursor(self.view.lines(), self._order)
        for lines in _ranges(self.source.lines(), self.range_rows):
            result.source_rows += len(lines)
            result.ranges += 1
            if self._drill(lines, view.through(self._order(lines[-1]))):
                result.ranges_differing += 1
            if self._progress is not None:
                self._progress(result.source_rows)
        tail = view.rest()
        if tail:
            result.ranges += 1
            result.ranges_differing += 1
            self._drill([], tail)
        result.view_rows = view.rows

    def _drill(self, source: list[str], view: list[str]) -> bool:
        """Record the differing rows of a range; True if there were any."""
        if len(source) == len(view) and digest(source) == digest(view):
            return False
        if len(source) <= LEAF_ROWS and len(view) <= LEAF_ROWS:
            return self._rows(source, view)
        longer = source if source else view
        step = max(1, len(longer) // FANOUT)
        pivots = [self._order(longer[k]) for k in range(step, len(longer), step)]
        cuts_s = [bisect.bisect_right(source, p, key=self._order) for p in pivots]
        cuts_v = [bisect.bisect_right(view, p, key=self._order) for p in pivots]
        bounds = list(
            zip(
                [0, *cuts_s],
                [*cuts_s, len(source)],
                [0, *cuts_v],
                [*cuts_v, len(view)],
                strict=True,
            )
        )
        ordered = cuts_s == sorted(cuts_s) and cuts_v == sorted(cuts_v)
        if not ordered or any(b - a == len(source) and d - c == len(view) for a, b, c, d in bounds):
            return self._rows(source, view)  # input out of order, or no progress
        found = [self._drill(source[a:b], view[c:d]) for a, b, c, d in bounds]
        return any(found)

    def _rows(self, source: list[str], view: list[str]) -> bool:
        n = self.layout.key_count
        theirs = {line_key(line, n): line for line in view}
        found = False
        for line in source:
            key = line_key(line, n)
            other = theirs.pop(key, None)
            if other != line:
                self._record(key, line, other)
                found = True
        for key, line in theirs.items():
            self._record(key, None, line)
            found = True
        return found

    def _record(self, key: Key, source: str | None, view: str | None) -> None:
        """Note a differing key; a key seen in another range before (a side the database
        ordered otherwise than Python) joins its other half, and is dropped if they agree."""
        before = self._pairs.pop(key, None)
        if before is not None:
            source = source if source is not None else before[0]
            view = view if view is not None else before[1]
        if source != view:
            self._pairs[key] = (source, view)

    def _settle(self, result: Result) -> dict[Key, tuple[str | None, str | None]]:
        pending = self._pairs
        if not pending or self.settle_s <= 0 or len(pending) > RECHECK_LIMIT:
            return pending
        result.rechecked = len(pending)
        deadline, pause = time.monotonic() + self.settle_s, 0.2
        while pending and time.monotonic() < deadline:
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            pause = min(pause * 2, 2.0)
            keys = list(pending)
            ours, theirs = self.source.fetch(keys), self.view.fetch(keys)
            pending = {
                k: (ours.get(k), theirs.get(k)) for k in keys if ours.get(k) != theirs.get(k)
            }
        return pending

    def _difference(self, key: Key, source: str | None, view: str | None) -> Difference:
        names, n = self.layout.names, self.layout.key_count
        ours = dict(zip(names, split_line(source), strict=False)) if source is not None else None
        theirs = dict(zip(names, split_line(view), strict=False)) if view is not None else None
        key_values = dict(zip(names[:n], split_line("\t".join(key)), strict=False))
        if ours is None:
            return Difference("extra", key_values, view=theirs)
        if theirs is None:
            return Difference("missing", key_values, source=ours)
        changed = [c for c in names if ours.get(c) != theirs.get(c)]
        return Difference("different", key_values, changed, ours, theirs)
