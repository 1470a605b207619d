from __future__ import annotations

import pytest

from strangler.connectors.postgres.copytext import parse_copy_line, parse_copy_rows
from strangler.connectors.postgres.errors import DecodeError
from strangler.connectors.postgres.slot import SlotError, check_slot_name

pytestmark = pytest.mark.unit


def test_rows_and_nulls() -> None:
    data = b"1\tabc\t\\N\n2\t\t\\N\n"
    assert parse_copy_rows(data) == [("1", "abc", None), ("2", "", None)]
    assert parse_copy_rows(b"") == []


def test_escapes() -> None:
    line = b"a\\tb\\nc\\\\d\\r\\b\\f\\v\tx\\101\\x42\\N-literal\t\\N"
    assert parse_copy_line(line) == ("a\tb\nc\\d\r\b\f\v", "xABN-literal", None)


def test_escaped_bytes_form_utf8() -> None:
    assert parse_copy_line(b"\\303\\251t\\xc3\\xa9") == ("été",)
    assert parse_copy_line("日本".encode()) == ("日本",)


def test_incomplete_or_invalid_data() -> None:
    with pytest.raises(DecodeError):
        parse_copy_rows(b"1\t2")
    with pytest.raises(DecodeError):
        parse_copy_line(b"\\377")


@pytest.mark.parametrize("name", ["s1", "strangler_orders", "a" * 63])
def test_valid_slot_names(name: str) -> None:
    assert check_slot_name(name) == name


@pytest.mark.parametrize("name", ["", "S1", "a-b", "a b", "a" * 64, "x;DROP"])
def test_invalid_slot_names(name: str) -> None:
    with pytest.raises(SlotError) as info:
        check_slot_name(name)
    assert info.value.fix is not None
