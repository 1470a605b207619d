"""Every mapped type, round trip against a real server.

One table gets one column per case; one row holds every case's value, a second row is all
NULLs. The row goes through the real path: walsender → pgoutput → TransactionAssembler with
RowDecoder → value_record → fastavro write/read with the generated schema. The result must
equal what psycopg reads directly (normalised per type where Avro's representation differs),
or, for documented choices psycopg cannot load (infinity, 24:00), the documented value.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import fastavro
import psycopg
import pytest

from strangler.connectors.postgres.catalog import load_types, not_null_columns
from strangler.connectors.postgres.errors import ValueParseError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import PgOutputMessage, Relation
from strangler.connectors.postgres.pgtext import SESSION_SETTINGS
from strangler.connectors.postgres.rows import RowDecoder, table_schema
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.connectors.postgres.transactions import Transaction, TransactionAssembler
from strangler.connectors.postgres.types import SCALARS, TypeInfo
from strangler.core.events import TableId
from strangler.core.schema import TableSchema, value_record, value_schema

ReadSlot = Callable[..., list[PgOutputMessage]]
MakeSlot = Callable[[str], Lsn]

pytestmark = pytest.mark.integration

_ASK = object()


def _identity(value: Any) -> Any:
    return value


def _float32(value: float) -> float:
    return float(struct.unpack("!f", struct.pack("!f", value))[0])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Case:
    sql_type: str
    literal: str
    normalise: Any = _identity
    """psycopg's value → the value Avro gives back."""
    as_text: bool = False
    """Ask psycopg for ``column::text`` (types we publish as their text form)."""
    expected: Any = _ASK
    """The documented value, where psycopg cannot load the value at all."""


CASES = [
    Case("smallint", "-32768"),
    Case("smallint", "32767"),
    Case("integer", "-2147483648"),
    Case("bigint", "-9223372036854775808"),
    Case("bigint", "9223372036854775807"),
    Case("numeric(12,3)", "-123456789.123"),
    Case("numeric(12,3)", "0"),
    Case("numeric(38,10)", "9999999999999999999999999999.9999999999"),
    Case("numeric(2,-3)", "12345"),
    Case("numeric(3,5)", "0.00123"),
    Case("numeric", "-0.00000000000000000001", as_text=True),
    Case("numeric", "1e300", as_text=True),
    Case("numeric", "'NaN'", as_text=True),
    Case("numeric", "'Infinity'", as_text=True),
    Case("numeric", "'-Infinity'", as_text=True),
    Case("real", "1.1", _float32),
    Case("real", "'-Infinity'", _float32),
    Case("real", "'NaN'", _float32),
    Case("double precision", "0.1"),
    Case("double precision", "1e308"),
    Case("double precision", "'NaN'"),
    Case("double precision", "'-Infinity'"),
    Case("boolean", "true"),
    Case("boolean", "false"),
    Case("text", "'unicode ✓ 日本語 🎉'"),
    Case("text", "''"),
    Case("text", "E'line\\nbreak, ''quote'' \"dq\" \\\\ backslash'"),
    Case("varchar(20)", "'abc'"),
    Case("char(5)", "'ab'"),
    Case('"char"', "'x'"),
    Case("name", "'a_name'"),
    Case("oid", "4294967295"),
    Case("bytea", "'\\x00ff00'::bytea"),
    Case("bytea", "''::bytea"),
    Case("date", "'2024-02-29'"),
    Case("date", "'0001-01-01'"),
    Case("date", "'9999-12-31'"),
    Case("date", "'infinity'", expected=date.max),
    Case("date", "'-infinity'", expected=date.min),
    Case("time", "'00:00:00'"),
    Case("time", "'23:59:59.999999'"),
    Case("time", "'24:00:00'", expected=time.max),
    Case("timetz", "'12:34:56.789+05:30'", as_text=True),
    Case("timestamp", "'2024-01-01 12:34:56.123456'", _utc),
    Case("timestamp", "'0001-01-01 00:00:00'", _utc),
    Case("timestamp", "'infinity'", expected=datetime.max.replace(tzinfo=UTC)),
    Case("timestamp", "'-infinity'", expected=datetime.min.replace(tzinfo=UTC)),
    Case("timestamptz", "'2024-06-01 12:00:00.5+02'", _utc),
    Case("timestamptz", "'1900-01-01 00:00:00+00'", _utc),
    Case("timestamptz", "'infinity'", expected=datetime.max.replace(tzinfo=UTC)),
    Case("interval", "'1 year 2 months 3 days 04:05:06.789'", as_text=True),
    Case("interval", "'-1 day -00:00:01'", as_text=True),
    Case("interval", "'0'", as_text=True),
    Case("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    Case("json", """'{"a": [1, 2.5, null], "b": "é"}'""", as_text=True),
    Case("jsonb", """'{"a": [1, 2.5, null], "b": "é"}'""", as_text=True),
    Case("integer[]", "'{1,NULL,3}'"),
    Case("integer[]", "'{}'"),
    Case("text[]", """'{"a,b","NULL",NULL,"say \\"hi\\"",é}'"""),
    Case("numeric(5,1)[]", "'{1.5,-2.0,NULL}'"),
    Case("boolean[]", "'{t,f}'"),
    Case("date[]", "'{2024-01-01,NULL}'"),
    Case("uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"),
    Case("mood", "'happy'"),
    Case("mood[]", "'{sad,NULL,happy}'", expected=["sad", None, "happy"]),
    Case("price", "12.34"),
    Case("money", "1234.56", as_text=True),
    Case("inet", "'192.168.0.1/24'", str),
    Case("inet", "'10.0.0.1'", str),
    Case("inet", "'::1'", str),
    Case("cidr", "'10.0.0.0/8'", str),
    Case("macaddr", "'08:00:2b:01:02:03'"),
    Case("macaddr8", "'08:00:2b:01:02:03:04:05'"),
    Case("xml", "'<a>x</a>'", as_text=True),
    Case("point", "'(1,2)'", as_text=True),
    Case("int4range", "'[1,5)'", as_text=True),
    Case("bit(3)", "B'101'", as_text=True),
]


def _setup(dsn: str) -> None:
    columns = ", ".join(f"c{i} {case.sql_type}" for i, case in enumerate(CASES))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
        conn.execute("CREATE DOMAIN price AS numeric(10,2)")
        conn.execute(f"CREATE TABLE every_type (id int PRIMARY KEY, {columns})")
        conn.execute("CREATE PUBLICATION pub FOR TABLE every_type")


def _insert(dsn: str) -> None:
    names = ", ".join(f"c{i}" for i in range(len(CASES)))
    values = ", ".join(case.literal for case in CASES)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO every_type (id, {names}) VALUES (1, {values})")
        conn.execute("INSERT INTO every_type (id) VALUES (2)")


def _psycopg_value(conn: psycopg.Connection[Any], index: int, case: Case) -> Any:
    if case.expected is not _ASK:
        return case.expected
    cast = "::text" if case.as_text else ""
    row = conn.execute(f"SELECT c{index}{cast} FROM every_type WHERE id = 1").fetchone()
    assert row is not None
    return case.normalise(row[0])


def _expected(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, value in SESSION_SETTINGS.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        return {f"c{i}": _psycopg_value(conn, i, case) for i, case in enumerate(CASES)}


def _assemble(dsn: str, messages: list[PgOutputMessage]) -> tuple[list[Transaction], TableSchema]:
    catalog: dict[int, TypeInfo] = {}
    assembler = TransactionAssembler(convert=RowDecoder(catalog))
    transactions, schema = [], None
    with psycopg.connect(dsn, autocommit=True) as conn:
        for message in messages:
            if isinstance(message, Relation):  # catalog facts are read off the decode path
                catalog.update(load_types(conn, [c.type_oid for c in message.columns]))
                schema = table_schema(
                    message, catalog, not_null=not_null_columns(conn, message.oid)
                )
            transaction = assembler.feed(message)
            if transaction is not None:
                transactions.append(transaction)
    assert schema is not None
    return transactions, schema


def _avro_round_trip(schema: TableSchema, row: Mapping[str, Any]) -> dict[str, Any]:
    parsed = fastavro.parse_schema(value_schema(schema, "test"))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value_record(schema, row))
    buffer.seek(0)
    result = fastavro.schemaless_reader(buffer, parsed, parsed)
    assert isinstance(result, dict)
    return result


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return bool(got == want) and type(got) is type(want)


def test_every_mapped_type_round_trips(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    _setup(pg_database)
    start = make_slot("s_types")
    _insert(pg_database)
    transactions, schema = _assemble(pg_database, read_slot("s_types", "pub", start, 2))
    full, nulls = (_avro_round_trip(schema, next(t.events()).after or {}) for t in transactions)
    expected = _expected(pg_database)
    mismatches = {
        f"{name} {CASES[int(name[1:])].sql_type} {CASES[int(name[1:])].literal}": (full[name], want)
        for name, want in expected.items()
        if not _same(full[name], want)
    }
    assert mismatches == {}
    assert full["id"] == 1
    assert nulls == {"id": 2, **{name: None for name in expected}}
    streamed = [next(t.events()).after for t in transactions]
    snapshot = _snapshot_rows(pg_database)
    assert len(snapshot) == 2
    for got, want in zip(snapshot, streamed, strict=True):
        assert want is not None
        assert {k: v for k, v in got.items() if not _same(v, want[k])} == {}


def _snapshot_rows(dsn: str) -> list[dict[str, Any]]:
    """The same rows read by SnapshotReader (COPY text), under an exported snapshot."""
    with psycopg.connect(dsn) as exporter:
        exporter.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        row = exporter.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        with psycopg.connect(dsn) as conn, SnapshotReader(conn, row[0], Lsn(0)) as reader:
            relation = reader.describe(TableId("public", "every_type"))
            return [dict(e.after or {}) for chunk in reader.read(relation) for e in chunk]


def test_every_entry_of_the_type_table_has_a_case(pg_database: str) -> None:
    _setup(pg_database)
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            "SELECT atttypid FROM pg_attribute WHERE attrelid = 'every_type'::regclass "
            "AND attnum > 0"
        ).fetchall()
    assert set(SCALARS) - {int(row[0]) for row in rows} == set()


def test_numeric_nan_in_constrained_numeric_is_a_clear_error(
    pg_database: str, make_slot: MakeSlot, read_slot: ReadSlot
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE n (id int PRIMARY KEY, v numeric(5,2))")
        conn.execute("CREATE PUBLICATION pub FOR TABLE n")
    start = make_slot("s_nan")
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO n VALUES (1, 'NaN')")
    [transaction], _ = _assemble(pg_database, read_slot("s_nan", "pub", start, 1))
    with pytest.raises(ValueParseError) as info:
        list(transaction.events())  # rows are converted as the events are produced
    assert "public.n.v" in str(info.value) and "'NaN'" in str(info.value)
