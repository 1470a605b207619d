"""The native snapshot encoder on the real server's COPY output: every supported type, edge
values, a domain, an enum and an excluded array, compared with the Python path row by row."""

from __future__ import annotations

import psycopg
import pytest

from strangler.connectors.postgres.catalog import not_null_columns
from strangler.connectors.postgres.copytext import parse_copy_rows
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import TupleData
from strangler.connectors.postgres.native import native_table
from strangler.connectors.postgres.rows import RowDecoder, table_schema
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.core.events import TableId
from strangler.core.schema import TableSchema

pytestmark = pytest.mark.integration

TABLE = TableId("public", "every type")

COLUMNS = """
    id bigint, s smallint, i int, b boolean, r real, d double precision, t text,
    v varchar(20), c char(4), nm name, n numeric(12,3), nbig numeric(40,0),
    nfrac numeric(30,20), nneg numeric(2,-3), nany numeric, dt date, tm time, ts timestamp,
    tstz timestamptz, u uuid, by bytea, j json, jb jsonb, dom money_amount, mood mood,
    arr int[], o oid
"""

# one row per line; each value a SQL literal (NULL where a column is left out)
ROWS = [
    "1, 0, 0, true, 0, 0, '', '', '', 'a', 0, 0, 0, 0, 0, '1970-01-01', '00:00', "
    "'1970-01-01 00:00', '1970-01-01 00:00+00', '00000000-0000-0000-0000-000000000000', "
    "'', '{}', '{}', 0, 'sad', '{}', 0",
    "2, 32767, 2147483647, false, 3.4028235e38, 1.7976931348623157e308, "
    "E'tab\\there\\nnew line \\\\ back\\\\N \\r', 'Grüße ✓', 'ab', 'name', 999999999.999, "
    "9999999999999999999999999999999999999999, 1234567890.12345678901234567890, 99000, "
    "'1e-5', '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', "
    "'2024-02-29 23:59:59.999999+05:30', 'ffffffff-ffff-ffff-ffff-ffffffffffff', "
    "'\\x00ff0a5c09'::bytea, '{\"a\": \"x\\\\ny\"}', '{\"k\": [1, 2.5, null]}', 12.34, "
    "'happy', '{1,NULL,3}', 4294967295",
    "3, -32768, -2147483648, true, -1.5e-45, 5e-324, '日本語 😀', repeat('x', 20), 'abcd', "
    "'x', -999999999.999, -9999999999999999999999999999999999999999, "
    "-0.00000000000000000001, -99000, 'NaN', '0001-01-01', '24:00:00', "
    "'0001-01-01 00:00:00', '0001-01-01 05:00:00+05', '0bd3a0a4-4b1e-4cc1-9bd0-6b0c1b64ff31', "
    "decode(repeat('ab', 5000), 'hex'), 'null', '\"s\"', -0.01, 'ok', NULL, 1",
    "4, 1, 1, false, 'NaN', 'Infinity', repeat('ü', 3000), NULL, NULL, 'n', -128.000, "
    "18446744073709551616, 0.00000010000000000000, 0, 'Infinity', '1969-12-31', '12:30:01.000005', "
    "'1969-12-31 23:59:59.5', '1900-01-01 00:00:01-08', NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL",
    "5, NULL, NULL, NULL, '-Infinity', '-Infinity', NULL, NULL, NULL, NULL, -129, "
    "-18446744073709551616, 0, NULL, '-1.5', '2000-02-29', NULL, '2000-01-01 12:00:00.1', "
    "'2010-06-01 12:00:00.25-03:30', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
]
DECLINED_ROWS = [  # values the Python path clamps or refuses: the native one declines them
    "6, 1, 1, true, 1, 1, 'x', 'x', 'x', 'x', 1, 1, 1, 1, 1, 'infinity', '00:00', "
    "'-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
]


def _setup(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE DOMAIN money_amount AS numeric(10,2) CHECK (VALUE > -1000)")
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        conn.execute(f'CREATE TABLE "every type" ({COLUMNS}, PRIMARY KEY (id))')
        for row in ROWS + DECLINED_ROWS:
            conn.execute(f'INSERT INTO "every type" VALUES ({row})')
        # many ordinary rows too, over several chunks
        conn.execute(
            'INSERT INTO "every type" (id, i, t, n, ts, tstz, by, u) '
            "SELECT 100 + g, g * 7919 - 5000000, 'row ' || g, g / 7.0, "
            "'2000-01-01'::timestamp + g * interval '37 minutes 0.000123 seconds', "
            "'1950-01-01'::timestamptz + g * interval '1 day', int8send(g), md5(g::text)::uuid "
            "FROM generate_series(1, 3000) g"
        )


def _paths(
    reader: SnapshotReader, conn: psycopg.Connection[tuple[object, ...]], exclude: set[str]
) -> tuple[TableSchema, FastTableSerializer]:
    relation = reader.describe(TABLE)
    full = table_schema(relation, reader.catalog, not_null=not_null_columns(conn, relation.oid))
    columns = tuple(c for c in full.columns if c.name not in exclude)
    return TableSchema(TABLE, columns, full.key), FastTableSerializer(_Registrar(), "it")


class _Registrar:
    def register(self, subject: str, schema: object) -> int:
        return 11 if subject.endswith("-key") else 12


def test_native_records_equal_the_python_path_on_real_copy_output(pg_database: str) -> None:
    _setup(pg_database)
    with (
        psycopg.connect(pg_database, autocommit=True) as conn,
        psycopg.connect(pg_database) as sconn,
        SnapshotReader(sconn, None, Lsn(0), chunk_rows=700) as reader,
    ):
        relation = reader.describe(TABLE)
        schema, serializer = _paths(reader, conn, exclude={"arr"})
        native = native_table(relation, schema, reader.catalog, serializer, "topic")
        assert native is not None  # the excluded array does not block the native path
        decode = RowDecoder(reader.catalog)
        pages = list(reader._pages(relation))
        assert [data.count(b"\n") for data, _ in pages] == [700] * 4 + [206]
        declined: list[int] = []
        for data, _last in pages:
            declined += [int(data.split(b"\n")[i].split(b"\t")[0]) for i in
                         native._encoder.encode(data)[2]]  # fmt: skip
            chunk = native.encode(data)
            for n, text in enumerate(parse_copy_rows(data)):
                row = decode(relation, TupleData(text))
                expected = (serializer.key("topic", schema, row),
                            serializer.value("topic", schema, row))  # fmt: skip
                assert (chunk.keys[n], chunk.values[n]) == expected, text
        assert declined == [6]  # infinity: only the documented clamping goes to Python
        # the chunks of the native path are the Python path's chunks, last keys included
        encoded = [(len(c), last) for c, last in reader.encoded_chunks(relation, native)]
        rows = [(len(r), last) for r, last in reader.row_chunks(relation)]
        assert encoded == rows and encoded[-1][1] == ("3100",)


def test_a_table_with_a_published_unsupported_type_keeps_the_python_path(
    pg_database: str,
) -> None:
    _setup(pg_database)
    with (
        psycopg.connect(pg_database, autocommit=True) as conn,
        psycopg.connect(pg_database) as sconn,
        SnapshotReader(sconn, None, Lsn(0)) as reader,
    ):
        relation = reader.describe(TABLE)
        schema, serializer = _paths(reader, conn, exclude=set())
        assert native_table(relation, schema, reader.catalog, serializer, "topic") is None
