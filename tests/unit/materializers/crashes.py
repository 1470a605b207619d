"""Random changelogs applied with the applier killed at random points, then restarted from the
stored offsets: shared by the SQLite (unit) and PostgreSQL (integration) property tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from strangler.materializers.applier import Applier
from strangler.materializers.columns import Dialect
from strangler.materializers.config import ViewConfig
from strangler.materializers.records import BadRecord
from strangler.materializers.tables import Evolution, TableSpec
from strangler.materializers.target import Partition, StagedRow, TableState, Target
from tests.unit.materializers.changelog import TOPIC, Event, records


class Crash(BaseException):
    """The process died here (not an Exception: nothing may catch and carry on)."""


@dataclass
class Clock:
    """Counts calls into the target across restarts; crashes at the chosen ticks."""

    crash_at: frozenset[int]
    now: int = 0

    def tick(self) -> None:
        self.now += 1
        if self.now in self.crash_at:
            raise Crash(self.now)


class Mortal:
    """Something that dies at the clock's chosen ticks, and stays dead."""

    clock: Clock
    dead: bool = False

    def _tick(self) -> None:
        try:
            self.clock.tick()
        except Crash:
            self.dead = True
            raise


class CrashingTarget(Mortal):
    """A real target that dies at chosen calls: after a crash it does nothing more (the
    applier's rollback never runs, as in a killed process), and is abandoned."""

    def __init__(self, inner: Target, clock: Clock) -> None:
        self.inner, self.clock = inner, clock
        self.dialect: Dialect = inner.dialect
        self.apply_ahead: bool = inner.apply_ahead

    def begin(self) -> None:
        self._tick()
        self.inner.begin()

    def commit(self) -> None:
        self._tick()
        self.inner.commit()
        self._tick()  # a crash right after the commit landed

    def rollback(self) -> None:
        if not self.dead:
            self.inner.rollback()

    def close(self) -> None:
        self.inner.close()

    def load_offsets(self, view: str) -> dict[Partition, int]:
        return self.inner.load_offsets(view)

    def load_tables(self, view: str) -> dict[str, TableState]:
        self._tick()
        return self.inner.load_tables(view)

    def save_table(self, view: str, topic: str, state: TableState) -> None:
        self._tick()
        self.inner.save_table(view, topic, state)

    def create_table(self, spec: TableSpec) -> None:
        self._tick()
        self.inner.create_table(spec)

    def alter_table(self, evolution: Evolution) -> None:
        self._tick()
        self.inner.alter_table(evolution)

    def truncate(self, spec: TableSpec, position: bytes) -> None:
        self._tick()
        self.inner.truncate(spec, position)

    def apply(self, spec: TableSpec, rows: Sequence[StagedRow]) -> None:
        self._tick()
        self.inner.apply(spec, rows)

    def save_offsets(self, view: str, offsets: Mapping[Partition, int]) -> None:
        self._tick()
        self.inner.save_offsets(view, offsets)

    def dead_letter(self, view: str, bad: Sequence[BadRecord]) -> None:
        self._tick()
        self.inner.dead_letter(view, bad)

    def load_positions(self, view: str) -> dict[Partition, bytes]:
        return self.inner.load_positions(view)

    def save_positions(self, view: str, positions: Mapping[Partition, bytes]) -> None:
        self._tick()
        self.inner.save_positions(view, positions)

    def lock_shapes(self) -> None:
        self.inner.lock_shapes()

    def lock_tables(self, names: Sequence[str]) -> None:
        self.inner.lock_tables(names)

    def swap_table(self, live: str, shadow: str) -> None:
        self.inner.swap_table(live, shadow)

    def forget_view(self, view: str) -> None:
        self.inner.forget_view(view)


_text = st.one_of(st.none(), st.text(alphabet="aé\"'Z \x01", max_size=4))


def _event(key: int, kind: str, name: Any, amount: Any, note: Any) -> Event:
    if kind == "truncate":
        return Event(None)
    if kind == "delete":
        return Event(key)
    version = 2 if kind == "upsert_v2" else 1
    return Event(key, {"name": name, "amount": amount, "note": note}, version)


events_strategy = st.lists(
    st.builds(
        _event,
        st.integers(0, 3),
        st.sampled_from(["upsert"] * 6 + ["delete"] * 3 + ["upsert_v2"] * 2 + ["truncate"]),
        _text,
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        _text,
    ),
    min_size=1,
    max_size=40,
)
steps_strategy = st.lists(st.sampled_from([0, 0, 1, 2]), min_size=40, max_size=40)
"""Position increments: 0 puts a change in the same source transaction as the one before."""
batches_strategy = st.lists(st.integers(1, 8), min_size=1, max_size=5)
crashes_strategy = st.frozensets(st.integers(1, 120), max_size=6)


def positions(steps: Sequence[int]) -> list[int]:
    return list(itertools.accumulate(steps, initial=1))


def apply_with_crashes(
    view: ViewConfig,
    open_target: Callable[[], Target],
    events: Sequence[Event],
    steps: Sequence[int],
    batch_sizes: Sequence[int],
    crash_at: frozenset[int],
) -> int:
    """Apply the log in batches of the given sizes, crashing and restarting as told; returns
    how many restarts it took."""
    log = records(events, positions(steps)[: len(events)])
    clock, sizes, restarts = Clock(crash_at), itertools.cycle(batch_sizes), 0
    while True:
        target = CrashingTarget(open_target(), clock)
        applier = Applier(view, target)
        try:
            offset = applier.stored_offsets().get((TOPIC, 0), 0)
            while offset < len(log):
                applier.apply(log[offset : offset + next(sizes)])
                offset = applier.stored_offsets()[(TOPIC, 0)]
            return restarts
        except Crash:
            restarts += 1
        finally:
            target.close()
