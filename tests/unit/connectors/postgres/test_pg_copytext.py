from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.postgres.copytext import parse_copy_line, parse_copy_rows
from strangler.connectors.postgres.errors import DecodeError, SlotError
from strangler.connectors.postgres.slot import check_slot_name

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


def _copy_escape(value: str | None) -> bytes:
    """COPY text format escaping as PostgreSQL's CopyAttributeOutText writes it."""
    if value is None:
        return b"\\N"
    table = {
        "\\": "\\\\",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    return "".join(table.get(ch, ch) for ch in value).encode()


@given(st.lists(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=5), max_size=5))
def test_round_trip_against_copy_escaping(rows: list[list[str | None]]) -> None:
    data = b"".join(b"\t".join(_copy_escape(v) for v in row) + b"\n" for row in rows)
    assert parse_copy_rows(data) == [tuple(row) for row in rows]


def test_whole_data_decoding_reads_every_line_as_line_by_line_parsing_does() -> None:
    data = "1\tplain\tGrüße\n2\t\\N\ta\\tb\\\\c\n3\t\\303\\251\t\\x41\n4\t\t\\\\N\n".encode()
    rows = parse_copy_rows(data)
    assert rows == [parse_copy_line(line) for line in data.split(b"\n")[:-1]]
    assert rows[2] == ("3", "é", "A") and rows[3] == ("4", "", "\\N")
