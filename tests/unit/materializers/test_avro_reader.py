"""The generated Avro readers decode exactly what fastavro decodes, and refuse what it refuses."""

from __future__ import annotations

import datetime
import decimal
import io
import uuid
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.materializers.avro_reader import compile_reader

pytestmark = pytest.mark.unit

UTC = datetime.UTC
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "a", "type": "boolean"},
        {"name": "b", "type": "int"},
        {"name": "c", "type": "long"},
        {"name": "d", "type": "float"},
        {"name": "e", "type": "double"},
        {"name": "f", "type": ["null", "string"]},
        {"name": "g", "type": "bytes"},
        {"name": "h", "type": {"type": "enum", "name": "E", "symbols": ["x", "y"]}},
        {"name": "i", "type": {"type": "fixed", "name": "F", "size": 3}},
        {"name": "j", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "k", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "l",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {"name": "m", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "n", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "o", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "p", "type": ["null", "long", "string"]},
        {"name": "q", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "r", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    ],
}
PARSED = fastavro.parse_schema(SCHEMA)
READ = compile_reader(SCHEMA)

rows = st.fixed_dictionaries(
    {
        "a": st.booleans(),
        "b": st.integers(-(2**31), 2**31 - 1),
        "c": st.integers(-(2**63), 2**63 - 1),
        "d": st.floats(width=32, allow_nan=False),
        "e": st.floats(allow_nan=False),
        "f": st.one_of(st.none(), st.text(max_size=300)),
        "g": st.binary(max_size=20),
        "h": st.sampled_from(["x", "y"]),
        "i": st.binary(min_size=3, max_size=3),
        "j": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        "k": st.dates(),
        "l": st.decimals(-(10**9), 10**9, places=2),
        "m": st.uuids().map(str),
        "n": st.times(),
        "o": st.datetimes(min_value=datetime.datetime(1900, 1, 1)).map(
            lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
        ),
        "p": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=5)),
        "q": st.datetimes(timezones=st.just(UTC)).map(
            lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
        ),
        "r": st.datetimes(),
    }
)


def _framed(row: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00\x00\x00\x00\x07")
    fastavro.schemaless_writer(out, PARSED, row)
    return out.getvalue()


def _fastavro(data: bytes) -> tuple[Any, int]:
    body = io.BytesIO(data)
    body.seek(5)
    return fastavro.schemaless_reader(body, PARSED, None), body.tell()


@settings(max_examples=200, deadline=None)
@given(rows)
def test_same_values_and_types_as_fastavro(row: dict[str, Any]) -> None:
    assert READ is not None
    data = _framed(row)
    got, end = READ(data, 5)
    want, want_end = _fastavro(data)
    assert (got, end) == (want, want_end) == (want, len(data))
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


@settings(max_examples=30, deadline=None)
@given(rows)
def test_a_cut_payload_raises_what_the_decoder_catches(row: dict[str, Any]) -> None:
    assert READ is not None
    data = _framed(row)
    for cut in range(5, len(data)):
        try:
            _, end = READ(data[:cut], 5)
        except (IndexError, EOFError, ValueError):
            continue
        assert end < len(data)  # parsed short: the decoder reports the bytes left over


def test_nested_types_are_left_to_fastavro() -> None:
    nested = {"type": "record", "name": "N", "fields": [{"name": "x", "type": SCHEMA}]}
    array = {"type": "array", "items": "long"}
    arrays = {"type": "record", "name": "A", "fields": [{"name": "x", "type": array}]}
    assert compile_reader(nested) is None and compile_reader(arrays) is None


def test_field_names_are_data_not_code() -> None:
    name = "x'}; import os #"
    fields = [{"name": name, "type": "long"}]
    reader = compile_reader({"type": "record", "name": "Q", "fields": fields})
    assert reader is not None and reader(b"\x04", 0) == ({name: 2}, 1)


def test_decimal_and_uuid_values() -> None:
    assert READ is not None
    row = {k: None for k in "fjp"} | {
        "a": True, "b": 1, "c": 2, "d": 0.5, "e": 1.5, "g": b"", "h": "y", "i": b"abc",
        "k": datetime.date(2024, 5, 1), "l": decimal.Decimal("12.30"),
        "m": str(uuid.UUID(int=5)), "n": datetime.time(13, 45), "o": datetime.datetime(2024, 1, 1),
        "q": datetime.datetime(2024, 1, 1, tzinfo=UTC), "r": datetime.datetime(2024, 1, 1),
    }  # fmt: skip
    got, _ = READ(_framed(row), 5)
    assert got["l"] == decimal.Decimal("12.30") and got["m"] == uuid.UUID(int=5)
