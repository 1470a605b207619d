"""The native (C) Avro reader gives the values and types the generated Python reader gives, and
refuses corrupt input with a Python exception, never a crash or a read past the end."""

from __future__ import annotations

import datetime
import decimal
import io
import math
import uuid
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.materializers import _speedups
from strangler.materializers.avro_reader import Reader, compile_reader
from strangler.materializers.native import native_reader, plan
from tests.unit.materializers.test_avro_reader import SCHEMA, rows

pytestmark = pytest.mark.unit

UTC = datetime.UTC
DECODE_ERRORS = (IndexError, EOFError, ValueError, OverflowError)
"""What the record decoder turns into a dead letter (UnicodeDecodeError is a ValueError)."""

CONNECTOR_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Row",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "small", "type": ["null", "int"]},
        {"name": "flag", "type": ["null", "boolean"]},
        {"name": "real", "type": ["null", "float"]},
        {"name": "dbl", "type": ["null", "double"]},
        {"name": "text", "type": ["null", "string"]},
        {"name": "blob", "type": ["null", "bytes"]},
        {
            "name": "amount",
            "type": [
                "null",
                {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 10},
            ],
        },
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "at", "type": ["null", {"type": "long", "logicalType": "time-micros"}]},
        {"name": "ts", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "ms", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {
            "name": "local",
            "type": ["null", {"type": "long", "logicalType": "local-timestamp-micros"}],
        },
        {"name": "uid", "type": ["null", {"type": "string", "logicalType": "uuid"}]},
    ],
}
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
MIN_TS = datetime.datetime(1, 1, 1, tzinfo=UTC)
MAX_TS = datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


_READERS: dict[int, tuple[Reader, Reader]] = {}


def _readers(schema: dict[str, Any]) -> tuple[Reader, Reader]:
    """(the generated Python reader, the native one) of ``schema``, made once per schema."""
    if id(schema) not in _READERS:
        python, native = compile_reader(schema), native_reader(schema)
        assert python is not None and native is not None
        _READERS[id(schema)] = python, native
    return _READERS[id(schema)]


def _framed(schema: dict[str, Any], row: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00\x00\x00\x00\x07")
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), row)
    return out.getvalue()


def _outcome(reader: Reader, data: bytes) -> Any:
    """(record, end), or the exception's type."""
    try:
        return reader(data, 5)
    except DECODE_ERRORS as exc:
        return type(exc)


def assert_same(schema: dict[str, Any], data: bytes) -> None:
    python, native = _readers(schema)
    want, got = _outcome(python, data), _outcome(native, data)
    if isinstance(want, tuple):
        assert got == want
        assert [type(v) for v in got[0].values()] == [type(v) for v in want[0].values()]
        assert [type(v) for v in got[0]] == [str] * len(want[0])
    else:
        assert isinstance(got, type) and issubclass(got, DECODE_ERRORS), got


@settings(max_examples=300, deadline=None)
@given(rows)
def test_every_type_as_the_python_reader(row: dict[str, Any]) -> None:
    data = _framed(SCHEMA, row)
    assert_same(SCHEMA, data)
    for cut in range(5, len(data)):  # every truncation raises (or parses short) alike
        assert_same(SCHEMA, data[:cut])


def _nullable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


connector_rows = st.fixed_dictionaries(
    {
        "id": st.integers(LONG_MIN, LONG_MAX),
        "small": _nullable(st.integers(-(2**31), 2**31 - 1)),
        "flag": _nullable(st.booleans()),
        "real": _nullable(st.floats(width=32, allow_nan=False)),
        "dbl": _nullable(st.floats(allow_nan=False)),
        "text": _nullable(st.text()),
        "blob": _nullable(st.binary()),
        "amount": _nullable(st.decimals(-(10**27), 10**27, places=10, allow_nan=False)),
        "day": _nullable(st.dates()),
        "at": _nullable(st.times()),
        "ts": _nullable(st.datetimes(timezones=st.just(UTC))),
        "ms": _nullable(
            st.datetimes(timezones=st.just(UTC)).map(
                lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
            )
        ),
        "local": _nullable(st.datetimes()),
        "uid": _nullable(st.uuids().map(str)),
    }
)


@settings(max_examples=300, deadline=None)
@given(connector_rows)
def test_connector_rows_as_the_python_reader(row: dict[str, Any]) -> None:
    assert_same(CONNECTOR_SCHEMA, _framed(CONNECTOR_SCHEMA, row))


EDGES: list[dict[str, Any]] = [
    {"id": LONG_MIN, "small": -(2**31), "text": "", "blob": b"", "amount": decimal.Decimal(0)},
    {"id": LONG_MAX, "small": 2**31 - 1, "text": "ünïcødé 漢字 🎉", "blob": b"\x00\xff"},
    {"id": 0, "amount": decimal.Decimal("-99999999999999999999999999.9999999999")},
    {"id": -1, "amount": decimal.Decimal("99999999999999999999999999.9999999999")},
    {"id": 1, "amount": decimal.Decimal("-0.0000000001"), "real": float("inf")},
    {"id": 2, "day": datetime.date(1, 1, 1), "ts": MIN_TS, "ms": MIN_TS, "dbl": -0.0},
    {"id": 3, "day": datetime.date(9999, 12, 31), "ts": MAX_TS, "real": float("-inf")},
    {"id": 4, "day": datetime.date(1970, 1, 1), "ts": datetime.datetime(1970, 1, 1, tzinfo=UTC)},
    {"id": 5, "day": datetime.date(1969, 12, 31), "at": datetime.time(23, 59, 59, 999999)},
    {"id": 6, "ts": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    {"id": 7, "ts": datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC), "at": datetime.time()},
    {"id": 8, "local": datetime.datetime(1, 1, 1), "uid": str(uuid.UUID(int=0))},
    {"id": 9, "local": datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)},
    {"id": 10, "day": datetime.date(2000, 2, 29), "local": datetime.datetime(2100, 3, 1)},
    {"id": 11, "uid": str(uuid.UUID(int=2**128 - 1)), "text": "\u0000" * 3},
]


@pytest.mark.parametrize("row", EDGES, ids=[str(r["id"]) for r in EDGES])
def test_edge_values(row: dict[str, Any]) -> None:
    full = {f["name"]: None for f in CONNECTOR_SCHEMA["fields"]} | row
    data = _framed(CONNECTOR_SCHEMA, full)
    assert_same(CONNECTOR_SCHEMA, data)
    got, end = _readers(CONNECTOR_SCHEMA)[1](data, 5)
    assert end == len(data)
    assert got["id"] == row["id"] and got["amount"] == row.get("amount")


def _one(avro_type: Any) -> dict[str, Any]:
    return {"type": "record", "name": "One", "fields": [{"name": "x", "type": avro_type}]}


def _zigzag(n: int) -> bytes:
    z, out = (n << 1) ^ (n >> 70), bytearray()
    while True:
        byte, z = z & 0x7F, z >> 7
        out.append(byte | (0x80 if z else 0))
        if not z:
            return bytes(out)


@pytest.mark.parametrize(
    ("logical", "value"),
    [
        ("timestamp-micros", 253402300800000000),  # 10000-01-01: beyond datetime
        ("timestamp-micros", -62135596800000001),  # just before 0001-01-01
        ("timestamp-millis", LONG_MAX),
        ("timestamp-millis", LONG_MIN),
        ("local-timestamp-micros", LONG_MIN),
        ("local-timestamp-millis", 253402300800000),
    ],
)
def test_timestamps_out_of_range_raise_overflow_as_python(logical: str, value: int) -> None:
    schema = _one({"type": "long", "logicalType": logical})
    data = b"\x00\x00\x00\x00\x07" + _zigzag(value)
    python, native = _readers(schema)
    with pytest.raises(OverflowError):
        python(data, 5)
    with pytest.raises(OverflowError):
        native(data, 5)


@pytest.mark.parametrize("days", [-719163, 2932897, 2**31 - 1, -(2**31)])
def test_dates_out_of_range_raise(days: int) -> None:
    schema = _one({"type": "int", "logicalType": "date"})
    data = b"\x00\x00\x00\x00\x07" + _zigzag(days)
    python, native = _readers(schema)
    with pytest.raises((ValueError, OverflowError)):
        python(data, 5)
    with pytest.raises(ValueError):
        native(data, 5)


def test_corrupt_payloads_raise() -> None:
    native = _readers(CONNECTOR_SCHEMA)[1]
    head = b"\x00\x00\x00\x00\x07"
    nulls = head + b"\x02\x00\x00\x00\x00"  # id 1, then small, flag, real and dbl null
    cases = {
        head: IndexError,  # nothing after the header
        head + b"\x80" * 9: IndexError,  # a varint that never ends
        head + b"\xff" * 9 + b"\x7f": ValueError,  # longer than 64 bits
        head + b"\x02\x04": IndexError,  # union index 2 of "small"'s two branches
        head + b"\x02\x03": IndexError,  # a negative union index
        head + b"\x02\x00\x00\x02\x00": EOFError,  # a float cut short
        nulls + b"\x02\x0a\x7f": EOFError,  # a string longer than the rest
        nulls + b"\x02\x01": EOFError,  # a negative string length
        nulls + b"\x02\x04\xff\xfe": ValueError,  # not UTF-8
    }
    for data, error in cases.items():
        with pytest.raises(error):
            native(data, 5)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_garbage_raises_or_agrees(body: bytes) -> None:
    python, native = _readers(CONNECTOR_SCHEMA)
    data = b"\x00\x00\x00\x00\x07" + body
    try:
        got = native(data, 5)
    except DECODE_ERRORS:
        return
    assert got == python(data, 5)


def test_nan_is_nan() -> None:
    for name, width in (("float", 4), ("double", 8)):
        schema = _one(name)
        data = _framed(schema, {"x": math.nan})
        assert len(data) == 5 + width and math.isnan(_readers(schema)[1](data, 5)[0]["x"])


def test_start_outside_the_payload_raises() -> None:
    native = _readers(_one("long"))[1]
    with pytest.raises(IndexError):
        native(b"\x02", 2)
    with pytest.raises(IndexError):
        native(b"\x02", -1)
    with pytest.raises(TypeError):
        native(bytearray(b"\x02"), 0)  # type: ignore[arg-type]
    assert native(b"\x02", 0) == ({"x": 1}, 1)


def test_enum_fixed_and_unions_of_many_branches() -> None:
    schema = {
        "type": "record",
        "name": "E",
        "fields": [
            {"name": "e", "type": {"type": "enum", "name": "S", "symbols": ["a", "b", "c"]}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}},
            {"name": "u", "type": ["null", "long", "string", "double"]},
        ],
    }
    for row in ({"e": "c", "f": b"xy", "u": 5}, {"e": "a", "f": b"\x00\x00", "u": "s"}):
        assert_same(schema, _framed(schema, row))
    for index in (-1, -3, -4, 3, 4):  # Python indexing of the symbols: -1 is the last one
        assert_same(schema, b"\x00\x00\x00\x00\x07" + _zigzag(index) + b"xy\x00")


@pytest.mark.parametrize(
    "avro_type",
    [
        {"type": "array", "items": "long"},
        {"type": "map", "values": "long"},
        {"type": "record", "name": "Inner", "fields": [{"name": "y", "type": "long"}]},
        ["null", {"type": "array", "items": "long"}],
        ["null", ["null", "long"]],
        "Inner",  # a reference to a named type
        [],
    ],
)
def test_what_it_declines_keeps_the_python_reader(avro_type: Any) -> None:
    assert plan(_one(avro_type)) is None and native_reader(_one(avro_type)) is None


def test_field_names_are_data() -> None:
    name = "x'}; import os #"
    native = native_reader(
        {"type": "record", "name": "Q", "fields": [{"name": name, "type": "long"}]}
    )
    assert native is not None and native(b"\x04", 0) == ({name: 2}, 1)


@pytest.mark.parametrize(
    "bad_plan",
    [
        [("x", False, [])],
        [("x", False, [(2, None, None, None), (2, None, None, None)])],
        [("x", False, [(99, None, None, None)])],
        [("x", False, [(7, ["not", "a", "tuple"], None, None)])],
        [("x", False, [(8, -1, None, None)])],
        [("x", False, "not a list")],
        [(1, False, [(2, None, None, None)])],
    ],
)
def test_a_bad_plan_raises(bad_plan: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        _speedups.make_reader(bad_plan)
