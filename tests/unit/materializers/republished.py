"""A bootstrap log with Kafka-level duplicates: every change at its own source position, then a
prefix of them published again (an at-least-once producer that restarted from an older source
position). Applied from an empty view it must leave what a sequential replay of the changes
leaves: shared by the SQLite (unit) and PostgreSQL (integration) bootstrap tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import strategies as st

from strangler.materializers.applier import Applier
from strangler.materializers.records import ChangeRecord
from tests.unit.materializers.changelog import Event, records

replayed_strategy = st.integers(0, 40)
"""How many of the first changes are published again."""
bulk_batches_strategy = st.lists(st.integers(1, 30), min_size=1, max_size=4)


def republished(events: Sequence[Event], replayed: int) -> list[ChangeRecord]:
    """``events`` at positions 1, 2, ..., then the first ``replayed`` of them once more."""
    positions = list(range(1, len(events) + 1))
    again = min(replayed, len(events))
    return records([*events, *events[:again]], [*positions, *positions[:again]])


def apply_in_batches(
    applier: Applier, log: Sequence[ChangeRecord], batch_sizes: Sequence[int]
) -> None:
    sizes, offset = itertools.cycle(batch_sizes), 0
    while offset < len(log):
        size = next(sizes)
        applier.apply(log[offset : offset + size])
        offset += size
