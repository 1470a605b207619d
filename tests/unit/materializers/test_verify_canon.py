"""Canonical text of values for ``strangler verify``: a source value and the value the SQLite
view stores for it must give the same text, whatever the driver handed over; lines escape like
PostgreSQL's COPY; key text sorts like the databases sort keys."""

from __future__ import annotations

import datetime
import decimal
import io
import sqlite3
import uuid
from typing import Any

import fastavro
import pytest

from strangler.core import avro
from strangler.core.avro import AvroType
from strangler.materializers.columns import sql_type
from strangler.materializers.verify_canon import (
    NULL,
    canonical_function,
    escape,
    order_function,
    pg_expression,
    split_line,
    sqlite_expression,
    stored_function,
    unescape,
)

pytestmark = pytest.mark.unit

UTC = datetime.UTC
STAMP = datetime.datetime(2024, 5, 1, 13, 45, 0, 120000, tzinfo=UTC)

# (Avro type, value as a source driver hands it over, value as fastavro decodes it)
CASES: list[tuple[AvroType, Any, Any]] = [
    (avro.BOOLEAN, True, True),
    (avro.BOOLEAN, 0, False),  # MySQL tinyint(1)
    (avro.INT, 42, 42),
    (avro.LONG, -(2**40), -(2**40)),
    (avro.DOUBLE, 1 / 3, 1 / 3),
    (avro.decimal(10, 2), decimal.Decimal("12.30"), decimal.Decimal("12.30")),
    (avro.decimal(20, 0), 18446744073709551615, decimal.Decimal(18446744073709551615)),
    (avro.DATE, datetime.date(2024, 5, 1), datetime.date(2024, 5, 1)),
    (avro.TIME_MICROS, datetime.time(13, 45, 0, 5), datetime.time(13, 45, 0, 5)),
    (avro.TIME_MICROS, datetime.timedelta(hours=13, minutes=45), datetime.time(13, 45)),
    (avro.TIMESTAMP_MICROS, STAMP, STAMP),
    (avro.TIMESTAMP_MICROS, STAMP.replace(tzinfo=None), STAMP),  # timestamp: read as UTC
    (
        avro.TIMESTAMP_MICROS,
        STAMP.astimezone(datetime.timezone(datetime.timedelta(hours=2))),
        STAMP,
    ),
    (avro.UUID, uuid.UUID(int=7), uuid.UUID(int=7)),
    (avro.UUID, str(uuid.UUID(int=7)).upper(), uuid.UUID(int=7)),  # MariaDB text
    (avro.STRING, "tab\there\\slash\nline", "tab\there\\slash\nline"),
    (avro.BYTES, b"\x00\xff", b"\x00\xff"),
    (avro.array(avro.nullable(avro.decimal(5, 2))), [decimal.Decimal("1.50"), None], None),
]


@pytest.mark.parametrize(("avro_type", "driver", "decoded"), CASES)
def test_a_source_value_and_its_stored_view_value_have_one_text(
    avro_type: AvroType, driver: Any, decoded: Any
) -> None:
    decoded = driver if decoded is None else decoded
    to_sqlite = sql_type(avro_type).to_sqlite
    stored = decoded if to_sqlite is None else to_sqlite(decoded)
    assert canonical_function(avro_type)(driver) == stored_function(avro_type)(stored)


def test_an_avro_float_is_compared_as_32_bits() -> None:
    schema = fastavro.parse_schema({"type": "record", "name": "R", "fields": [
        {"name": "f", "type": "float"}]})  # fmt: skip
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, {"f": 0.1})
    out.seek(0)
    stored = fastavro.schemaless_reader(out, schema, None)["f"]  # type: ignore[index,call-overload]
    assert stored != 0.1
    assert canonical_function(avro.FLOAT)(0.1) == stored_function(avro.FLOAT)(stored)


def test_jsonb_read_back_from_a_postgres_view_matches_the_sqlite_text() -> None:
    array = avro.array(avro.STRING)
    assert canonical_function(array)(["a", "b"]) == canonical_function(array)('["a","b"]')


def test_null_has_no_text() -> None:
    for avro_type, _driver, _decoded in CASES:
        assert canonical_function(avro_type)(None) is None
        assert stored_function(avro_type)(None) is None


@pytest.mark.parametrize("text", ["plain", "a\tb", "back\\slash", "\\N", "\b\f\n\r\t\v", ""])
def test_escape_round_trips_and_never_looks_like_null(text: str) -> None:
    escaped = escape(text)
    assert "\t" not in escaped and "\n" not in escaped
    assert escaped != NULL
    assert unescape(escaped) == text
    assert split_line(f"{escaped}\t{NULL}") == [text, None]


@pytest.mark.parametrize("text", ["plain", "a\tb", "back\\slash", "\\N", "\b\f\n\r\t\v x"])
def test_the_sqlite_expression_escapes_like_copy(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (s TEXT, d TEXT, i INTEGER, b BLOB)")
    conn.execute("INSERT INTO t VALUES (?, '12.30', 5, x'00ff')", [text])
    exprs = [
        sqlite_expression(avro.STRING, "s"),
        sqlite_expression(avro.decimal(4, 2), "d"),
        sqlite_expression(avro.LONG, "i"),
        sqlite_expression(avro.BYTES, "b"),
    ]
    row = conn.execute(f"SELECT {', '.join(str(e) for e in exprs)} FROM t").fetchone()
    assert list(row) == [escape(text), "12.30", "5", "00ff"]


def test_the_sqlite_expressions_keep_null_apart_from_empty() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (s TEXT, i INTEGER, b BLOB)")
    conn.execute("INSERT INTO t VALUES (NULL, NULL, NULL), ('', 0, x'')")
    types = {"s": avro.STRING, "i": avro.LONG, "b": avro.BYTES}
    exprs = [str(sqlite_expression(t, name)) for name, t in types.items()]
    rows = conn.execute(f"SELECT {', '.join(exprs)} FROM t ORDER BY i NULLS FIRST").fetchall()
    assert rows == [(None, None, None), ("", "0", "")]


def test_types_sql_cannot_write_are_finished_in_python() -> None:
    for avro_type in (avro.DOUBLE, avro.FLOAT, avro.TIME_MICROS, avro.array(avro.INT)):
        assert pg_expression(avro_type, '"c"') is None
    assert pg_expression(avro.decimal(20, 7), '"c"') is None  # str(Decimal) turns to 1E-7
    assert pg_expression(avro.decimal(20, 6), '"c"', copy=False) == '"c"::text'
    assert pg_expression(avro.decimal(20, 6), '"c"') == '"c"'  # COPY writes it as is
    assert sqlite_expression(avro.DOUBLE, '"c"') is None


def test_key_text_sorts_like_the_databases() -> None:
    ints = ["10", "9", "100"]
    assert sorted(ints, key=order_function(avro.LONG)) == ["9", "10", "100"]
    texts = ["a-1", "B", "A-1", "é"]
    assert sorted(texts, key=order_function(avro.STRING)) == ["A-1", "B", "a-1", "é"]
    money = ["10.00", "9.50"]
    assert sorted(money, key=order_function(avro.decimal(4, 2))) == ["9.50", "10.00"]
