from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from strangler.core import avro
from strangler.core.events import TableId
from strangler.core.schema import (
    Column,
    NotData,
    SchemaError,
    TableSchema,
    key_record,
    key_schema,
    value_record,
    value_schema,
)

pytestmark = pytest.mark.unit

TABLE = TableSchema(
    TableId("Sales-EU", "Orders"),
    (
        Column("id", avro.LONG, nullable=False, source_type="bigint"),
        Column("Order Date", avro.DATE, source_type="date"),
        Column("order-date", avro.STRING),
        Column("total", avro.decimal(10, 2), nullable=False),
    ),
    key=("id",),
)


def round_trip(schema: dict[str, Any], record: dict[str, Any]) -> Any:
    parsed = fastavro.parse_schema(schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, parsed, parsed)


def test_value_schema() -> None:
    schema = value_schema(TABLE, "cdc.pg")
    assert schema["name"] == "Value" and schema["namespace"] == "cdc.pg.Sales_EU.Orders"
    assert schema["fields"] == [
        {"name": "id", "type": "long"},
        {
            "name": "Order_Date",
            "type": ["null", {"type": "int", "logicalType": "date"}],
            "default": None,
            "strangler.column": "Order Date",
        },
        {
            "name": "order_date",
            "type": ["null", "string"],
            "default": None,
            "strangler.column": "order-date",
        },
        {"name": "total", "type": avro.decimal(10, 2)},
    ]


def test_key_schema_is_never_nullable() -> None:
    nullable_key = TableSchema(TABLE.table, (Column("k", avro.STRING),), key=("k",))
    assert key_schema(nullable_key, "x")["fields"] == [{"name": "k", "type": "string"}]
    assert key_schema(TABLE, "cdc")["name"] == "Key"


def test_records_round_trip_through_fastavro() -> None:
    row = {"id": 7, "Order Date": date(2024, 2, 29), "order-date": None, "total": Decimal("-1.50")}
    value = value_record(TABLE, row)
    assert value == {
        "id": 7,
        "Order_Date": date(2024, 2, 29),
        "order_date": None,
        "total": Decimal("-1.50"),
    }
    assert round_trip(value_schema(TABLE, "cdc"), value) == value
    assert round_trip(key_schema(TABLE, "cdc"), key_record(TABLE, {"id": 7})) == {"id": 7}


def test_table_without_key_has_no_key_schema() -> None:
    keyless = TableSchema(TableId("s", "t"), (Column("a", avro.INT),))
    with pytest.raises(SchemaError) as info:
        key_schema(keyless, "cdc")
    assert info.value.fix is not None


def test_unknown_key_column_rejected() -> None:
    with pytest.raises(SchemaError):
        TableSchema(TableId("s", "t"), (Column("a", avro.INT),), key=("b",))


def test_null_key_value_rejected() -> None:
    with pytest.raises(SchemaError):
        key_record(TABLE, {"id": None})


class _Missing(NotData):
    def __repr__(self) -> str:
        return "MISSING"


def test_placeholders_are_never_encoded() -> None:
    row = {"id": 7, "Order Date": None, "order-date": _Missing(), "total": Decimal("1.00")}
    with pytest.raises(SchemaError) as info:
        value_record(TABLE, row)
    assert "order-date" in str(info.value) and "MISSING" in str(info.value)
    assert info.value.fix is not None
    with pytest.raises(SchemaError):
        key_record(TABLE, {"id": _Missing()})
