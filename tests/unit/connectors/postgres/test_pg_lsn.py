from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.postgres.errors import LsnError
from strangler.connectors.postgres.lsn import ZERO, Lsn
from strangler.core.errors import StranglerError
from strangler.core.events import Position

pytestmark = pytest.mark.unit


def test_parse_and_format_like_pg_lsn() -> None:
    lsn = Lsn.parse("16/B374D848")
    assert lsn.value == (0x16 << 32) | 0xB374D848
    assert lsn.encode() == "16/B374D848"
    assert str(Lsn(0x1504000)) == "0/1504000"


def test_parse_accepts_lowercase_and_short_halves() -> None:
    assert Lsn.parse("0/0") == ZERO
    assert Lsn.parse("a/b").value == (10 << 32) | 11


@pytest.mark.parametrize("text", ["", "0", "/1", "1/", "1/2/3", "g/0", "0/123456789", " / "])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(LsnError) as info:
        Lsn.parse(text)
    assert isinstance(info.value, StranglerError)


def test_out_of_range_value_rejected() -> None:
    with pytest.raises(LsnError):
        Lsn(-1)
    with pytest.raises(LsnError):
        Lsn(1 << 64)


def test_is_an_ordered_position() -> None:
    a, b = Lsn.parse("0/FFFFFFFF"), Lsn.parse("1/0")
    assert isinstance(a, Position)
    assert a < b and a <= b and b > a and b >= a and not b < a
    assert a <= Lsn(a.value)
    assert sorted([b, a]) == [a, b]
    assert len({a, Lsn(a.value)}) == 1


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_text_round_trip(value: int) -> None:
    assert Lsn.parse(Lsn(value).encode()) == Lsn(value)
