"""Prefetched: a source read ahead by a thread, in order, errors raised where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from strangler.connectors.snapshot_chunks import Prefetched

pytestmark = pytest.mark.unit


def test_items_arrive_in_order_and_the_source_is_read_on_another_thread() -> None:
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    with Prefetched(source()) as items:
        assert list(items) == list(range(50))
    assert threads == {"snapshot-prefetch"}


def test_an_error_of_the_source_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("chunk 2 failed")

    seen = []
    with pytest.raises(ValueError, match="chunk 2"), Prefetched(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1]


def test_close_stops_reading_ahead_after_at_most_depth_items() -> None:
    read = []

    def source() -> Iterator[int]:
        for i in range(1000):
            read.append(i)
            yield i

    with Prefetched(source(), depth=1) as items:
        assert next(iter(items)) == 0
    assert len(read) <= 3  # the one consumed, one queued, one waiting to be queued
