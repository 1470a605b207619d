"""A view's own tables are recognised by name: `strangler init` does not offer them, and a
source's include patterns do not capture them unless they name one exactly."""

from __future__ import annotations

import pytest

from strangler.connectors.config import TableSelection
from strangler.core.bookkeeping import is_bookkeeping
from strangler.core.events import TableId

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("_strangler_offsets", True),
        ("_strangler_tables", True),
        ("_strangler_dead_letters", True),
        ("_strangler_stage", True),
        ("products__strangler_deleted", True),
        ("products", False),
        ("strangler_products", False),
        ("_strangle", False),
    ],
)
def test_bookkeeping_names(name: str, expected: bool) -> None:
    assert is_bookkeeping(name) is expected


def test_wildcards_leave_a_views_bookkeeping_tables_out() -> None:
    selection = TableSelection(include=["public.*", "audit._strangler_offsets"])
    tables = [
        TableId("public", "products"),
        TableId("public", "_strangler_offsets"),  # a view living in the captured database
        TableId("public", "products__strangler_deleted"),
        TableId("audit", "_strangler_offsets"),  # named exactly: captured
    ]
    assert selection.select(tables) == [
        TableId("audit", "_strangler_offsets"),
        TableId("public", "products"),
    ]
