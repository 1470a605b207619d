"""Avro defaults of NOT NULL columns with a constant source default: the JSON form per Avro type,
checked by resolving a record written without the field against the schema that adds it."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from strangler.core import avro
from strangler.core.events import TableId
from strangler.core.schema import Column, Default, TableSchema, avro_default, value_schema

pytestmark = pytest.mark.unit

TABLE = TableId("public", "accounts")
ID = Column("id", avro.LONG, nullable=False)

CASES: list[tuple[avro.AvroType, Any]] = [
    (avro.STRING, "basic"),
    (avro.INT, -1),
    (avro.LONG, 2**40),
    (avro.DOUBLE, 1.5),
    (avro.FLOAT, 0.5),
    (avro.BOOLEAN, False),
    (avro.BYTES, b"\x00\xff"),
    (avro.DATE, date(2020, 1, 2)),
    (avro.TIMESTAMP_MICROS, datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
    (avro.TIMESTAMP_MICROS, datetime(1969, 12, 31, 23, 59)),
    (avro.TIME_MICROS, time(12, 30, 1, 5)),
    (avro.decimal(6, 2), Decimal("1.25")),
    (avro.decimal(6, 2), Decimal("-300")),
    (avro.decimal(4, 0), Decimal("128")),
    (avro.decimal(4, 0), Decimal("-129")),
    (avro.UUID, uuid.UUID(int=7)),
]


def _underlying(avro_type: avro.AvroType, value: Any) -> Any:
    """``value`` written as ``avro_type`` and read back as its underlying type (logical type
    dropped): what the Avro specification says a default of that type holds (bytes as a
    string of code points 0-255)."""
    base = avro_type["type"] if isinstance(avro_type, dict) else avro_type
    writer = {"type": "record", "name": "r", "fields": [{"name": "x", "type": avro_type}]}
    reader = {"type": "record", "name": "r", "fields": [{"name": "x", "type": base}]}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(writer), {"x": value})
    out.seek(0)
    parsed = fastavro.parse_schema(reader)
    record = fastavro.schemaless_reader(out, parsed, parsed)
    assert isinstance(record, dict)
    raw = record["x"]
    return raw.decode("latin-1") if isinstance(raw, bytes) else raw


@pytest.mark.parametrize(("avro_type", "value"), CASES)
def test_a_constant_default_is_the_value_in_avro_json_form(
    avro_type: avro.AvroType, value: Any
) -> None:
    assert avro_default(avro_type, value) == _underlying(avro_type, value)


def test_older_records_read_the_default_of_an_added_field() -> None:
    tier = Column("tier", avro.STRING, nullable=False, default=Default("'basic'", True, "basic"))
    old = value_schema(TableSchema(TABLE, (ID,), ("id",)), "s")
    new = value_schema(TableSchema(TABLE, (ID, tier), ("id",)), "s")
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(old), {"id": 1})
    out.seek(0)
    record = fastavro.schemaless_reader(out, fastavro.parse_schema(old), fastavro.parse_schema(new))
    assert record == {"id": 1, "tier": "basic"}


@pytest.mark.parametrize(
    ("avro_type", "value"),
    [
        (avro.INT, 2**31),
        (avro.INT, True),
        (avro.STRING, 5),
        (avro.DOUBLE, float("nan")),
        (avro.DATE, datetime(2020, 1, 1)),
        (avro.decimal(6, 2), Decimal("1.255")),
        (avro.array(avro.LONG), []),
        ({"type": "record", "name": "r", "fields": []}, {}),
        (avro.STRING, None),
    ],
)
def test_values_avro_cannot_hold_as_a_default_are_refused(
    avro_type: avro.AvroType, value: Any
) -> None:
    with pytest.raises(ValueError):
        avro_default(avro_type, value)


def test_only_not_null_value_fields_with_a_constant_default_get_one() -> None:
    basic = Default("'basic'::text", True, "basic")
    columns = (
        Column("id", avro.LONG, nullable=False, default=Default("5", True, 5)),
        Column("tier", avro.STRING, nullable=False, default=basic),
        Column("note", avro.STRING, nullable=True, default=basic),
        Column("created", avro.TIMESTAMP_MICROS, nullable=False, default=Default("now()")),
    )
    fields = value_schema(TableSchema(TABLE, columns, ("id",)), "s")["fields"]
    assert [f.get("default", "-") for f in fields] == [5, "basic", None, "-"]
