"""The specialised record writers write exactly fastavro's bytes, and leave the rest to it."""

from __future__ import annotations

import io
import struct
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastavro
import pytest

from strangler.connectors.postgres.encoding import (
    FastTableSerializer,
    field_writer,
    record_writer,
    write_long,
)
from strangler.connectors.postgres.messages import UNCHANGED_TOAST
from strangler.connectors.serialization import TableSerializer
from strangler.core import avro
from strangler.core.events import TableId
from strangler.core.schema import Column, SchemaError, TableSchema

pytestmark = pytest.mark.unit

CASES: list[tuple[Any, list[Any]]] = [
    (avro.BOOLEAN, [True, False]),
    (avro.INT, [0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8193, 2**31 - 1, -(2**31)]),
    (avro.LONG, [0, 300, -300, 2**40, 2**63 - 1, -(2**63)]),
    (avro.FLOAT, [0.0, 1.5, -3.25e10, float("inf")]),
    (avro.DOUBLE, [0.0, 0.1, -1e308, float("-inf")]),
    (avro.STRING, ["", "a", "Grüße ✓", "x" * 20_000]),
    (avro.BYTES, [b"", b"\x00\xff", b"y" * 20_000]),
    (avro.UUID, [UUID(int=12345), "0bd3a0a4-4b1e-4cc1-9bd0-6b0c1b64ff31"]),
    (avro.DATE, [date(1970, 1, 1), date(1969, 12, 31), date(1, 1, 1), date(9999, 12, 31)]),
    (avro.TIME_MICROS, [time(0, 0), time(23, 59, 59, 999_999), time(12, 30, 1, 5)]),
    (
        avro.TIMESTAMP_MICROS,
        [
            datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
            datetime(1900, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        ],
    ),
    (
        avro.decimal(12, 3),
        [Decimal(t) for t in ["0", "0.000", "1.5", "-1.5", "127", "-129", "-999999999.999"]],
    ),
    (avro.decimal(38, 0), [Decimal("-12345678901234567890123456789012345678")]),
    (avro.decimal(20, 10), [Decimal(t) for t in ["0.000001", "-0.5", "9999999999"]]),
]


def _fastavro(avro_type: Any, value: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(avro_type), value)
    return out.getvalue()


@pytest.mark.parametrize(("avro_type", "values"), CASES)
def test_field_writers_write_fastavros_bytes(avro_type: Any, values: list[Any]) -> None:
    write, write_null = field_writer(avro_type), field_writer(avro.nullable(avro_type))
    assert write is not None and write_null is not None
    for value in values:
        assert write(value) == _fastavro(avro_type, value), value
        assert write_null(value) == _fastavro(avro.nullable(avro_type), value), value
    assert write_null(None) == b"\x00"


def test_types_left_to_fastavro_have_no_writer() -> None:
    assert field_writer(avro.array(avro.nullable(avro.LONG))) is None
    assert field_writer(["null", "string", "long"]) is None
    assert field_writer({"type": "long", "logicalType": "timestamp-millis"}) is None
    schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": avro.array("int")}]}
    assert record_writer(1, schema, ["a"]) is None


def test_write_long_refuses_what_is_not_a_long() -> None:
    with pytest.raises(Exception):  # noqa: B017 - the serializer catches it, falls back
        write_long(2**63)


TABLE = TableSchema(
    TableId("public", "all"),
    (
        *(Column(f"c{i}", t) for i, (t, _v) in enumerate(CASES)),
        Column("id", avro.LONG, nullable=False),
        Column("tags", avro.array(avro.STRING)),
    ),
    key=("id",),
)


class Registrar:
    def register(self, subject: str, schema: Any) -> int:
        return 3


def test_serializer_matches_table_serializer_with_and_without_fast_writers() -> None:
    slow, fast = TableSerializer(Registrar(), "ns"), FastTableSerializer(Registrar(), "ns")
    plain = TableSchema(TABLE.table, TABLE.columns[:-1], key=("id",))
    for table in (TABLE, plain):  # with an array column the whole row goes to fastavro
        row = {f"c{i}": v[0] for i, (_t, v) in enumerate(CASES)} | {"id": 9, "tags": ["a"]}
        if table is plain:
            del row["tags"]
        assert fast.value("t", table, row) == slow.value("t", table, row)
        nulls = dict.fromkeys(row) | {"id": 9}
        assert fast.value("t", table, nulls) == slow.value("t", table, nulls)
        assert fast.key("t", table, {"id": 9}) == slow.key("t", table, {"id": 9})
        assert (fast.value("t", table, row) or b"")[:5] == struct.pack(">bI", 0, 3)


def test_serializer_leaves_refusals_and_other_python_types_to_table_serializer() -> None:
    fast = FastTableSerializer(Registrar(), "ns")
    plain = TableSchema(TABLE.table, TABLE.columns[:-1], key=("id",))
    row: dict[str, Any] = dict.fromkeys(c.name for c in plain.columns) | {"id": 1}
    for i in range(len(CASES)):  # a placeholder in any column type is refused
        with pytest.raises(SchemaError, match="placeholder"):
            fast.value("t", plain, {**row, f"c{i}": UNCHANGED_TOAST})
    with pytest.raises(SchemaError, match="NULL"):
        fast.key("t", plain, {"id": None})
    with pytest.raises(ValueError, match=r"[Ss]cale"):
        fast.value("t", plain, {**row, "c11": Decimal("1.2345")})
    with pytest.raises(ValueError, match="do not match"):  # fastavro's refusal, not a guess
        fast.value("t", plain, {**row, "c0": 1})


def test_long_varints_of_every_length_match_fastavro() -> None:
    for bits in range(0, 64):
        for n in (2**bits - 1, 2**bits, -(2**bits), -(2**bits) - 1):
            if -(2**63) <= n < 2**63:
                assert write_long(n) == _fastavro(avro.LONG, n), n


def test_decimals_in_exponent_form_are_written_by_fastavro() -> None:
    table = TableSchema(
        TableId("public", "d"),
        (Column("id", avro.LONG, nullable=False), Column("d", avro.decimal(20, 10))),
        key=("id",),
    )
    slow, fast = TableSerializer(Registrar(), "ns"), FastTableSerializer(Registrar(), "ns")
    for text in ["1E+2", "1E-10", "0.0000001", "-0"]:
        row = {"id": 1, "d": Decimal(text)}
        assert fast.value("t", table, row) == slow.value("t", table, row), text
