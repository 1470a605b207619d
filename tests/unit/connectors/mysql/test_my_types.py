"""The type table's converters, on the value forms each read path produces."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from strangler.connectors.mysql.errors import ValueConversionError
from strangler.connectors.mysql.rows import table_codec
from strangler.connectors.mysql.types import CODECS, ZERO_DATE, SourceColumn, resolve
from strangler.core import avro
from strangler.core.events import TableId

pytestmark = pytest.mark.unit


def _column(data_type: str, **kw: Any) -> SourceColumn:
    return SourceColumn("c", data_type, **kw)


@pytest.mark.parametrize(
    ("column", "binlog", "text", "expected"),
    [
        (_column("tinyint", display_width=1), 2, "2", True),
        (_column("tinyint", display_width=1), 0, "0", False),
        (_column("tinyint", display_width=1, unsigned=True), 200, "200", 200),
        (_column("int", unsigned=True), 4294967295, "4294967295", 4294967295),
        (_column("bigint", unsigned=True), 2**64 - 1, str(2**64 - 1), Decimal(2**64 - 1)),
        (_column("bit", precision=1), "1", b"\x01", True),
        (_column("bit", precision=12), "100000000101", b"\x08\x05", b"\x08\x05"),
        (_column("binary", precision=4), b"a", b"a\x00\x00\x00", b"a\x00\x00\x00"),
        (_column("set", labels=("x", "y", "z")), frozenset({"z", "x"}), "x,z", "x,z"),
        (_column("set", labels=("x",)), frozenset(), "", ""),
        (_column("year"), 1900, "0000", 0),
        (_column("time"), timedelta(hours=1, microseconds=5), "01:00:00.000005", time(1, 0, 0, 5)),
        (_column("date"), ZERO_DATE, "0000-00-00", None),
        (_column("date"), date(2024, 2, 29), "2024-02-29", date(2024, 2, 29)),
        (_column("datetime"), ZERO_DATE, "2024-00-01 00:00:00", None),
        (_column("datetime"), datetime(2024, 1, 2, 3, 4, 5, 600000), "2024-01-02 03:04:05.6",
         datetime(2024, 1, 2, 3, 4, 5, 600000, UTC)),
        (_column("timestamp"), datetime(1970, 1, 1), "0000-00-00 00:00:00", None),
        (_column("uuid"), b"\x12" + bytes(15), "12000000-0000-0000-0000-000000000000",
         "12000000-0000-0000-0000-000000000000"),
        (_column("inet6"), bytes(10) + b"\xff\xff\x01\x02\x03", "::ffff:1.2.3.0", "::ffff:1.2.3.0"),
        (_column("inet6"), bytes(12) + b"\x01\x02\x03\x04", "::1.2.3.4", "::1.2.3.4"),
        (_column("inet6"), bytes(15) + b"\x01", "::1", "::1"),
        (_column("inet4"), b"\x0a", "10.0.0.0", "10.0.0.0"),
        (_column("geometry"), b"SRID" + b"wkb", b"SRID" + b"wkb", b"wkb"),
        (_column("json"), {"a": [1, "b"]}, '{"a": [1, "b"]}', '{"a": [1, "b"]}'),
    ],
)  # fmt: skip
def test_both_paths_give_the_documented_value(
    column: SourceColumn, binlog: Any, text: Any, expected: Any
) -> None:
    column_type = resolve(column)
    assert column_type.from_binlog(binlog) == expected
    assert column_type.from_text(text) == expected


def test_avro_types_follow_the_table() -> None:
    assert resolve(_column("bigint", unsigned=True)).avro_type == avro.decimal(20, 0)
    assert resolve(_column("decimal", precision=12, scale=3)).avro_type == avro.decimal(12, 3)
    assert resolve(_column("uuid")).avro_type == avro.UUID
    assert resolve(_column("datetime")).avro_type == avro.TIMESTAMP_MICROS
    assert resolve(_column("some future type")).avro_type == avro.STRING
    assert {"tinyint", "json", "geometry", "inet6", "set", "year"} <= set(CODECS)


def test_time_outside_a_day_names_the_column() -> None:
    codec = table_codec(TableId("d", "t"), [SourceColumn("span", "time")], [])
    with pytest.raises(ValueConversionError, match="span"):
        codec.from_binlog({"span": timedelta(hours=-1)})
    with pytest.raises(ValueConversionError, match="span"):
        codec.from_text(["24:00:00"])


def test_key_columns_are_not_nullable_and_zero_date_columns_are() -> None:
    codec = table_codec(
        TableId("d", "t"),
        [SourceColumn("id", "int", nullable=False), SourceColumn("d", "date", nullable=False)],
        ["id"],
    )
    assert [c.nullable for c in codec.schema.columns] == [False, True]
    assert codec.key_of({"id": 3, "d": None}) == {"id": 3}
