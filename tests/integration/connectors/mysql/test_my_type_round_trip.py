"""Every mapped type, round trip against a real MariaDB, through both read paths.

One table gets one column per case; one row holds every case's value, a second row is all
NULLs. The row is read (1) from the binlog by ``BinlogSource`` and (2) by the snapshot's SELECT,
converted, written with fastavro against the generated value schema, read back, and compared
with the expected value; the two paths must also agree with each other.
"""

from __future__ import annotations

import logging
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from strangler.connectors.mysql.errors import ValueConversionError
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.core.events import Op, TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import (
    avro_round_trip,
    execute,
    position_now,
    settings,
    stream_all,
)

pytestmark = pytest.mark.integration


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


_WIDE = "-" + "9" * 35 + "." + "9" * 30
_UUID1 = "123e4567-e89b-12d3-a456-426614174000"
_UUID4 = "f47ac10b-58cc-4372-a567-0e02b2c3d479"


@dataclass(frozen=True)
class Case:
    sql_type: str
    literal: str
    expected: Any


CASES = [
    Case("tinyint(1)", "1", True),
    Case("tinyint(1)", "0", False),
    Case("bool", "true", True),
    Case("tinyint", "-128", -128),
    Case("tinyint unsigned", "255", 255),
    Case("smallint", "-32768", -32768),
    Case("smallint unsigned", "65535", 65535),
    Case("mediumint", "-8388608", -8388608),
    Case("mediumint unsigned", "16777215", 16777215),
    Case("int", "-2147483648", -2147483648),
    Case("int unsigned", "4294967295", 4294967295),
    Case("bigint", "-9223372036854775808", -9223372036854775808),
    Case("bigint", "9223372036854775807", 9223372036854775807),
    Case("bigint unsigned", "18446744073709551615", Decimal("18446744073709551615")),
    Case("bigint unsigned", "0", Decimal(0)),
    Case("decimal(10,3)", "-1234567.891", Decimal("-1234567.891")),
    Case("decimal(5,0)", "0", Decimal(0)),
    Case("decimal(65,30)", _WIDE, Decimal(_WIDE)),
    Case("decimal(20,10)", "0.0000000001", Decimal("0.0000000001")),
    Case("float", "1.1", _f32(1.1)),
    Case("float", "-3.4e38", _f32(-3.4e38)),
    Case("double", "1e308", 1e308),
    Case("double", "-0.1", -0.1),
    Case("bit(1)", "b'1'", True),
    Case("bit(1)", "b'0'", False),
    Case("bit(10)", "b'1000000001'", b"\x02\x01"),
    Case("bit(64)", "18446744073709551615", b"\xff" * 8),
    Case("bit(9)", "0", b"\x00\x00"),
    Case("char(3)", "'ab'", "ab"),
    Case("varchar(20)", "'ünï ✓ 日本'", "ünï ✓ 日本"),
    Case("varchar(20) character set latin1", "'héllo'", "héllo"),
    Case("varchar(10)", "''", ""),
    Case("tinytext", "'t'", "t"),
    Case("text", "'line\\nbreak ''q'' \\\\'", "line\nbreak 'q' \\"),
    Case("mediumtext", "'🎉'", "🎉"),
    Case("longtext", "'long'", "long"),
    Case("binary(4)", "'ab'", b"ab\x00\x00"),
    Case("binary(4)", "x'00000000'", b"\x00" * 4),
    Case("binary(3)", "x'ff0000'", b"\xff\x00\x00"),
    Case("varbinary(10)", "x'00ff00'", b"\x00\xff\x00"),
    Case("tinyblob", "x''", b""),
    Case("blob", "x'0001'", b"\x00\x01"),
    Case("mediumblob", "x'ff'", b"\xff"),
    Case("longblob", "x'00'", b"\x00"),
    Case("date", "'2024-02-29'", date(2024, 2, 29)),
    Case("date", "'1000-01-01'", date(1000, 1, 1)),
    Case("date", "'9999-12-31'", date(9999, 12, 31)),
    Case("date", "'0000-00-00'", None),
    Case("date", "'2024-00-10'", None),
    Case("datetime", "'1000-01-01 00:00:00'", _ts("1000-01-01 00:00:00")),
    Case("datetime(3)", "'2024-01-02 03:04:05.678'", _ts("2024-01-02 03:04:05.678")),
    Case("datetime(6)", "'9999-12-31 23:59:59.999999'", _ts("9999-12-31 23:59:59.999999")),
    Case("datetime(1)", "'2024-01-02 03:04:05.1'", _ts("2024-01-02 03:04:05.1")),
    Case("datetime", "'0000-00-00 00:00:00'", None),
    Case("timestamp(6) null", "'2024-01-02 03:04:05.678901'", _ts("2024-01-02 03:04:05.678901")),
    Case("timestamp null", "'1970-01-01 00:00:01'", _ts("1970-01-01 00:00:01")),
    Case("timestamp null", "'2038-01-19 03:14:07'", _ts("2038-01-19 03:14:07")),
    Case("timestamp(3) null", "'0000-00-00 00:00:00'", None),
    Case("time", "'00:00:00'", time(0)),
    Case("time(2)", "'12:34:56.78'", time(12, 34, 56, 780000)),
    Case("time(6)", "'23:59:59.999999'", time(23, 59, 59, 999999)),
    Case("year", "2024", 2024),
    Case("year", "1901", 1901),
    Case("year", "2155", 2155),
    Case("year", "'0000'", 0),
    Case("enum('a','b')", "'b'", "b"),
    Case("enum('a','b')", "'zzz'", ""),
    Case("set('x','y','z')", "'z,x'", "x,z"),
    Case("set('x','y','z')", "''", ""),
    Case("json", "'{\"a\": [1, 2.5, null], \"b\": \"ü\"}'", '{"a": [1, 2.5, null], "b": "ü"}'),
    Case("uuid", f"'{_UUID1}'", uuid.UUID(_UUID1)),
    Case("uuid", f"'{_UUID4}'", uuid.UUID(_UUID4)),
    Case("uuid", "'00000000-0000-0000-0000-000000000000'", uuid.UUID(int=0)),
    Case("inet6", "'2001:db8::1'", "2001:db8::1"),
    Case("inet6", "'2001:db8::'", "2001:db8::"),
    Case("inet6", "'::'", "::"),
    Case("inet6", "'::ffff:10.0.0.1'", "::ffff:10.0.0.1"),
    Case("inet4", "'10.0.0.0'", "10.0.0.0"),
    Case("inet4", "'255.255.255.255'", "255.255.255.255"),
    Case("geometry", "ST_GeomFromText('POINT(1 2)', 4326)", _point(1, 2)),
    Case("point", "POINT(3, 4)", _point(3, 4)),
    Case("linestring", "ST_GeomFromText('LINESTRING(0 0, 1 1)')",
         struct.pack("<BII", 1, 2, 2) + struct.pack("<dddd", 0, 0, 1, 1)),
]  # fmt: skip


def _create(db: MysqlDatabase) -> str:
    columns = ", ".join(f"c{i} {case.sql_type}" for i, case in enumerate(CASES))
    values = ", ".join(case.literal for case in CASES)
    execute(
        db,
        f"CREATE TABLE types (id int PRIMARY KEY, {columns}) CHARACTER SET utf8mb4",
        sql_mode="",
    )
    return f"INSERT INTO types VALUES (1, {values}), (2{', NULL' * len(CASES)})"


def _check(rows: dict[int, dict[str, Any]], path: str) -> None:
    wrong = [
        (i, CASES[i].sql_type, CASES[i].literal, rows[1][f"c{i}"], CASES[i].expected)
        for i in range(len(CASES))
        if rows[1][f"c{i}"] != CASES[i].expected
        or type(rows[1][f"c{i}"]) is not type(CASES[i].expected)
    ]
    assert wrong == [], f"{path}: (index, type, literal, got, expected)"
    assert all(v is None for name, v in rows[2].items() if name != "id"), path


def test_every_mapped_type_through_binlog_and_snapshot(mysql_database: MysqlDatabase) -> None:
    db = mysql_database
    insert = _create(db)
    start = position_now(db)
    execute(db, insert, sql_mode="")

    txs = stream_all(db, start)
    events = [e for tx in txs for e in tx.events]
    assert [e.op for e in events] == [Op.CREATE, Op.CREATE]
    streamed_schema = txs[0].schemas[TableId(db.name, "types")]
    streamed = {e.after["id"]: avro_round_trip(streamed_schema, e.after) for e in events if e.after}
    _check(streamed, "binlog")

    with SnapshotReader(settings(db)) as snapshot:
        codec = snapshot.describe(TableId(db.name, "types"))
        read = [e for chunk in snapshot.read(codec) for e in chunk.events]
    assert codec.schema == streamed_schema
    assert [e.op for e in read] == [Op.READ, Op.READ]
    selected = {e.after["id"]: avro_round_trip(codec.schema, e.after) for e in read if e.after}
    _check(selected, "snapshot")
    assert selected == streamed


def test_zero_dates_become_null_with_a_warning(
    mysql_database: MysqlDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE z (id int PRIMARY KEY, zero_day date NOT NULL)", sql_mode="")
    start = position_now(db)
    with caplog.at_level(logging.WARNING):
        execute(db, "INSERT INTO z VALUES (1, '0000-00-00')", sql_mode="")
        (tx,) = stream_all(db, start)
    assert tx.events[0].after == {"id": 1, "zero_day": None}
    assert tx.schemas[TableId(db.name, "z")].column("zero_day").nullable
    assert "zero_day" in caplog.text


@pytest.mark.parametrize("literal", ["'-00:00:01'", "'24:00:00'", "'838:59:59'"])
def test_time_outside_a_day_is_refused_by_both_paths(
    mysql_database: MysqlDatabase, literal: str
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE d (id int PRIMARY KEY, span time(1))")
    start = position_now(db)
    execute(db, f"INSERT INTO d VALUES (1, {literal})")
    with pytest.raises(ValueConversionError, match="span"):
        stream_all(db, start)
    with (
        SnapshotReader(settings(db)) as snapshot,
        pytest.raises(ValueConversionError, match="span"),
    ):
        list(snapshot.read(snapshot.describe(TableId(db.name, "d"))))
