"""The acknowledged position only moves over fully delivered transactions, in source order."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.connectors.acks import AckTracker, DeliveryFailed, PendingTransaction
from strangler.core.events import Position

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Seq(Position):
    n: int

    def encode(self) -> str:
        return str(self.n)

    def __lt__(self, other: Any) -> bool:
        return isinstance(other, Seq) and self.n < other.n


def test_nothing_acknowledged_until_every_event_of_the_first_transaction() -> None:
    tracker = AckTracker(Seq(0))
    first, second = tracker.begin(Seq(10)), tracker.begin(Seq(20))
    for tx in (first, first, second):
        tracker.sent(tx)
    tracker.seal(first)
    tracker.seal(second)
    tracker.delivered(second)
    tracker.delivered(first)
    assert tracker.acknowledged() == Seq(0)  # second is done, first is not: no skipping ahead
    tracker.delivered(first)
    assert tracker.acknowledged() == Seq(20)
    assert tracker.in_flight == 0


def test_unsealed_transaction_is_not_acknowledged_even_if_all_sent_events_are_delivered() -> None:
    tracker = AckTracker()
    tx = tracker.begin(Seq(5))
    tracker.sent(tx)
    tracker.delivered(tx)
    assert tracker.acknowledged() is None
    tracker.seal(tx)
    assert tracker.acknowledged() == Seq(5)


def test_empty_transaction_acknowledges_its_position() -> None:
    tracker = AckTracker()
    tracker.seal(tracker.begin(Seq(1)))
    assert tracker.acknowledged() == Seq(1)


def test_a_failed_delivery_stops_acknowledgement_for_good() -> None:
    tracker = AckTracker()
    tx = tracker.begin(Seq(1))
    tracker.sent(tx)
    tracker.seal(tx)
    tracker.delivered(tx, error="MSG_TIMED_OUT")
    with pytest.raises(DeliveryFailed, match="MSG_TIMED_OUT"):
        tracker.acknowledged()


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=12), seed=st.integers(0, 2**32))
def test_random_delivery_order_acknowledges_longest_complete_prefix(
    sizes: list[int], seed: int
) -> None:
    tracker = AckTracker()
    txs: list[PendingTransaction] = []
    events: list[int] = []
    for i, size in enumerate(sizes):
        tx = tracker.begin(Seq(i))
        txs.append(tx)
        for _ in range(size):
            tracker.sent(tx)
            events.append(i)
        tracker.seal(tx)
    random.Random(seed).shuffle(events)
    remaining = list(sizes)
    for i in events:
        tracker.delivered(txs[i])
        remaining[i] -= 1
        complete = next((j for j, r in enumerate(remaining) if r), len(remaining))
        expected = Seq(complete - 1) if complete else None
        assert tracker.acknowledged() == expected
    assert tracker.acknowledged() == Seq(len(sizes) - 1)
