from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.postgres import pgtext
from strangler.connectors.postgres.arrays import parse_array
from strangler.connectors.postgres.errors import ValueParseError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (pgtext.parse_bool, "t", True),
        (pgtext.parse_bool, "f", False),
        (pgtext.parse_int, "-32768", -32768),
        (pgtext.parse_float, "1.5", 1.5),
        (pgtext.parse_float, "-Infinity", float("-inf")),
        (pgtext.parse_decimal, "-12345678901234567890.12", Decimal("-12345678901234567890.12")),
        (pgtext.parse_bytea, "\\x00ff10", b"\x00\xff\x10"),
        (pgtext.parse_bytea, "a\\\\b\\001", b"a\\b\x01"),
        (pgtext.parse_date, "2024-02-29", date(2024, 2, 29)),
        (pgtext.parse_date, "infinity", date.max),
        (pgtext.parse_date, "-infinity", date.min),
        (pgtext.parse_time, "23:59:59.5", time(23, 59, 59, 500000)),
        (pgtext.parse_time, "24:00:00", time.max),
        (
            pgtext.parse_timestamp,
            "2024-01-02 03:04:05.000006",
            datetime(2024, 1, 2, 3, 4, 5, 6, UTC),
        ),
        (
            pgtext.parse_timestamp,
            "2024-01-02 03:04:05+00",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        (
            pgtext.parse_timestamp,
            "2024-01-02 03:04:05.1-05:30",
            datetime(2024, 1, 2, 8, 34, 5, 100000, UTC),
        ),
        (
            pgtext.parse_timestamp,
            "1900-01-01 00:00:00+00:53:28",
            datetime(1899, 12, 31, 23, 6, 32, tzinfo=UTC),
        ),
        (pgtext.parse_timestamp, "infinity", datetime.max.replace(tzinfo=UTC)),
        (pgtext.parse_timestamp, "-infinity", datetime.min.replace(tzinfo=UTC)),
        (pgtext.parse_interval, "P1Y2M3DT4H5M6.789S", "P1Y2M3DT4H5M6.789S"),
        (pgtext.parse_interval, "P-1Y-2M3DT-4H-5M-6.5S", "P-1Y-2M3DT-4H-5M-6.5S"),
        (pgtext.parse_interval, "PT0S", "PT0S"),
    ],
)
def test_parse(parse: Any, text: str, expected: Any) -> None:
    assert parse(text) == expected


def test_timestamps_are_aware_utc() -> None:
    value = pgtext.parse_timestamp("2024-06-01 12:00:00+02")
    assert value.utcoffset() == timedelta(0)
    assert value == datetime(2024, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (pgtext.parse_bool, "true"),
        (pgtext.parse_int, "1.5"),
        (pgtext.parse_float, "abc"),
        (pgtext.parse_decimal, "NaN"),
        (pgtext.parse_decimal, "x"),
        (pgtext.parse_bytea, "\\xzz"),
        (pgtext.parse_date, "0044-03-15 BC"),
        (pgtext.parse_date, "10000-01-01"),
        (pgtext.parse_date, "01/02/2024"),
        (pgtext.parse_time, "1:2:3"),
        (pgtext.parse_timestamp, "2024-01-01T00:00:00"),
        (pgtext.parse_timestamp, "294276-12-31 23:59:59+00"),
        (pgtext.parse_interval, "1 year 2 mons"),
    ],
)
def test_rejects_with_value_in_message(parse: Any, text: str) -> None:
    with pytest.raises(ValueParseError) as info:
        parse(text)
    assert repr(text) in str(info.value)


def test_session_settings_as_libpq_options() -> None:
    options = pgtext.libpq_options()
    assert "-c IntervalStyle=iso_8601" in options and "-c TimeZone=UTC" in options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ("{1,2,NULL}", ["1", "2", None]),
        ('{"a,b","say \\"hi\\"","NULL",null,""}', ["a,b", 'say "hi"', "NULL", None, ""]),
        ('{"back\\\\slash","{}"}', ["back\\slash", "{}"]),
        ("[0:1]={x,y}", ["x", "y"]),
        ("{x[1:2]=y}", ["x[1:2]=y"]),
        ("{é,日本}", ["é", "日本"]),
    ],
)
def test_parse_array(text: str, expected: list[str | None]) -> None:
    assert parse_array(text) == expected


def test_parse_array_other_delimiter() -> None:
    assert parse_array("{(1,1),(0,0);(2,2),(1,1)}", ";") == ["(1,1),(0,0)", "(2,2),(1,1)"]


@pytest.mark.parametrize("text", ["", "{", "{{1,2},{3,4}}", '{"open}', '{"a"b}', "1,2"])
def test_parse_array_rejects(text: str) -> None:
    with pytest.raises(ValueParseError):
        parse_array(text)


def _array_literal(items: list[str | None]) -> str:
    """An array literal quoted as PostgreSQL's array_out does it."""

    def element(item: str | None) -> str:
        if item is None:
            return "NULL"
        needs_quotes = item == "" or item.upper() == "NULL" or any(c in item for c in '{},"\\ \t\n')
        escaped = item.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"' if needs_quotes else item

    return "{" + ",".join(element(i) for i in items) + "}"


@given(
    st.lists(st.one_of(st.none(), st.text(st.characters(exclude_categories=["Cs"]))), max_size=6)
)
def test_array_round_trip_against_array_out_quoting(items: list[str | None]) -> None:
    assert parse_array(_array_literal(items)) == items


def _pg_time(value: time) -> str:
    """time_out with DateStyle ISO: fraction only when non-zero, trailing zeros dropped."""
    text = value.strftime("%H:%M:%S")
    return f"{text}.{value.microsecond:06d}".rstrip("0") if value.microsecond else text


@given(st.dates())
def test_date_round_trip(value: date) -> None:
    assert pgtext.parse_date(f"{value.year:04d}-{value.month:02d}-{value.day:02d}") == value


@given(st.datetimes(), st.integers(min_value=-15 * 60, max_value=15 * 60))
def test_timestamptz_round_trip(value: datetime, offset_minutes: int) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    local = value.replace(tzinfo=UTC).astimezone(zone) if 1 < value.year < 9999 else value
    if local.year in (1, 9999):
        return  # the offset could carry the UTC value out of Python's range
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    head = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {_pg_time(local.time())}"
    text = f"{head}{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")
    assert pgtext.parse_timestamp(text) == value.replace(tzinfo=UTC)
