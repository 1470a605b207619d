from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.postgres.spill import SpillBuffer

pytestmark = pytest.mark.unit


@given(st.lists(st.text(max_size=5), max_size=30), st.integers(min_value=0, max_value=10))
def test_keeps_order_and_bounds_memory(items: list[str], limit: int) -> None:
    buffer: SpillBuffer[str] = SpillBuffer(limit)
    for item in items:
        buffer.append(item)
    assert list(buffer) == items and list(buffer) == items
    assert len(buffer) == len(items)
    assert buffer.spilled == max(0, len(items) - limit)
    buffer.close()
    assert list(buffer) == [] and len(buffer) == 0


def test_append_after_reading_keeps_appending_at_the_end() -> None:
    buffer: SpillBuffer[int] = SpillBuffer(1, dump=lambda i: str(i).encode(), load=int)
    for item in (1, 2, 3):
        buffer.append(item)
    assert list(buffer) == [1, 2, 3]
    buffer.append(4)
    assert list(buffer) == [1, 2, 3, 4] and buffer.spilled == 3
