"""A view's own tables are recognised by name (so `strangler init` does not offer them)."""

from __future__ import annotations

import pytest

from strangler.materializers.statements import is_bookkeeping

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
