"""``_speedups.copy_binary`` on a real server: the COPY binary data it writes loads the very
rows the text path (``copy_text``, else psycopg's ``write_row``) loads, for every type it
writes; any value it would not load exactly so, it declines."""

from __future__ import annotations

import datetime
import decimal
import random
import struct
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers._speedups import copy_binary, copy_text
from strangler.materializers.applier import Applier
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.records import ChangeRecord, WriterSchema
from strangler.materializers.target import StagedRow
from tests.integration.materializers.test_copy_text import COLUMNS as TEXT_COLUMNS
from tests.integration.materializers.test_copy_text import make_tables, random_value, staged_rows
from tests.integration.materializers.test_postgres_target import view
from tests.unit.materializers.changelog import Event, records

pytestmark = pytest.mark.integration

COLUMNS = [
    *TEXT_COLUMNS,
    ("n", "numeric(10, 2)"),  # not written by copy_binary: only NULLs here
    ("j", "jsonb"),  # likewise
]
WITH_UUID = [*COLUMNS, ("u", "uuid")]  # copy_text declines uuids: write_row is the text path
UTC = datetime.UTC
DOUBLES = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e300, 0.1]
DOUBLES += [float("inf"), float("-inf"), float("nan"), -float("nan")]
INTS_AS_DOUBLE = [0, -1, 2**53, -(2**53), 2**31, 123_456_789]
REALS = [0.0, -0.0, 1.5, 1.401298464324817e-45, 3.4028234663852886e38, float("inf")]
REALS += [float("-inf"), float("nan"), 16_777_216, -16_777_216, 7]
STAMPS = [
    datetime.datetime.min,
    datetime.datetime.max,
    datetime.datetime(1999, 12, 31, 23, 59, 59, 999_999),
    datetime.datetime(2000, 1, 1),
    datetime.datetime(2000, 1, 1, 0, 0, 0, 1),
    datetime.datetime(1900, 2, 28, 12),
    datetime.datetime(2024, 2, 29, 23, 59, 59),
]


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _stamp(rng: random.Random) -> datetime.datetime:
    if rng.random() < 0.3:
        return rng.choice(STAMPS)
    micros = rng.randrange(315_537_897_600_000_000)
    return datetime.datetime(1, 1, 1) + datetime.timedelta(microseconds=micros)


def _value(rng: random.Random, column: str) -> Any:
    """test_copy_text's values, with more edge cases of numbers and times, and uuids."""
    if column in ("t", "y"):
        return random_value(rng, column)
    if rng.random() < 0.1 or column in ("n", "j"):
        return None
    stamp = _stamp(rng)
    values: dict[str, Any] = {
        "i": rng.choice([rng.randrange(-(2**31), 2**31), -(2**31), 2**31 - 1, 0]),
        "b": rng.random() < 0.5,
        "d": rng.choice([*DOUBLES, *INTS_AS_DOUBLE, rng.uniform(-1e6, 1e6), rng.random()]),
        "r": rng.choice([*REALS, _float32(rng.uniform(-1e6, 1e6))]),
        "u": uuid.UUID(int=rng.getrandbits(128)),
        "tz": stamp.replace(tzinfo=UTC),
        "ts": stamp,
        "dt": stamp.date(),
        "tm": stamp.time(),
    }
    return values[column]


def _names(columns: list[tuple[str, str]], staged: bool) -> list[str]:
    """The COPY's columns: the staging table's order (flag, position, columns) or the view's."""
    names = [n for n, _ in columns]
    return ["del", "pos", *names] if staged else [*names, "pos"]


def _load_text(
    conn: psycopg.Connection[Any],
    columns: list[tuple[str, str]],
    rows: list[StagedRow],
    staged: bool,
) -> None:
    """The text path: copy_text's text, else psycopg's write_row (as PostgresTarget does)."""
    width = len(columns)
    query = f"COPY via_text ({', '.join(_names(columns, staged))}) FROM STDIN"
    text = copy_text(rows, width, staged)
    assert (text is None) == any(t == "uuid" for _, t in columns)
    with conn.cursor() as cur, cur.copy(query.encode()) as copy:
        if text is not None:
            copy.write(text)
            return
        for row in rows:
            values = row.values + (None,) * (width - len(row.values))
            copy.write_row(
                (row.delete, row.position, *values) if staged else (*values, row.position)
            )


def _load_binary(
    conn: psycopg.Connection[Any],
    columns: list[tuple[str, str]],
    rows: list[StagedRow],
    staged: bool,
) -> None:
    data = copy_binary(rows, len(columns), staged, [t for _, t in columns])
    assert data is not None
    query = f"COPY via_binary ({', '.join(_names(columns, staged))}) FROM STDIN (FORMAT binary)"
    with conn.cursor() as cur, cur.copy(query.encode()) as copy:
        copy.write(data)


@pytest.mark.parametrize("columns", [COLUMNS, WITH_UUID], ids=["text", "uuid"])
@pytest.mark.parametrize("staged", [True, False])
def test_copy_binary_loads_what_the_text_path_loads(
    pg_database: str, staged: bool, columns: list[tuple[str, str]]
) -> None:
    rows = staged_rows(2_000, staged, columns, _value)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        make_tables(conn, ("via_text", "via_binary"), columns, staged)
        _load_text(conn, columns, rows, staged)
        _load_binary(conn, columns, rows, staged)
        # whole rows as text: NaN equals NaN there, -0 differs from 0, every digit counts
        select = "SELECT t::text FROM {} t ORDER BY 1"
        found = [
            conn.execute(select.format(t).encode()).fetchall() for t in ("via_text", "via_binary")
        ]
        assert len(found[1]) == len(rows)
        assert found[0] == found[1]
        # and as values: a float4 or float8 loaded from bits is the one parsed from text
        same = "SELECT count(*) FROM via_text p JOIN via_binary q ON p::text = q::text AND {}"
        floats = "(p.d = q.d OR p.d IS NULL) AND (p.r = q.r OR p.r IS NULL)"
        assert conn.execute(same.format(floats).encode()).fetchone() == (len(rows),)


class _Uuid(uuid.UUID):
    pass


UTC_PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))
DECLINED = [
    ("integer", True),  # a bool: its text is t, refused by the server
    ("integer", 2**31),
    ("integer", -(2**31) - 1),
    ("integer", 1.0),
    ("bigint", 2**63),
    ("bigint", -(2**63) - 1),
    ("bigint", "1"),
    ("boolean", 1),
    ("double precision", 2**53 + 1),  # float8in would round its text
    ("double precision", True),
    ("double precision", decimal.Decimal("1.5")),
    ("real", 0.1),  # not a float4: float4in rounds its text
    ("real", 1e300),  # refused by float4in
    ("real", 2**24 + 1),
    ("text", "nul \x00 inside"),
    ("text", "lone \ud800 surrogate"),
    ("text", 5),
    ("text", b"bytes"),
    ("bytea", bytearray(b"x")),
    ("bytea", "x"),
    ("timestamptz", datetime.datetime(2024, 1, 1)),  # naive: the session's time zone
    ("timestamptz", datetime.datetime(2024, 1, 1, tzinfo=UTC_PLUS_2)),
    ("timestamptz", datetime.date(2024, 1, 1)),
    ("timestamp", datetime.datetime(2024, 1, 1, tzinfo=UTC)),
    ("timestamp", datetime.date(2024, 1, 1)),
    ("date", datetime.datetime(2024, 1, 1)),
    ("date", "2024-01-01"),
    ("time", datetime.time(1, 2, tzinfo=UTC)),
    ("time", datetime.datetime(2024, 1, 1)),
    ("uuid", str(uuid.UUID(int=5))),
    ("uuid", _Uuid(int=5)),
    ("numeric(10, 2)", decimal.Decimal("1.5")),
    ("jsonb", Jsonb([1])),
    ("no such type", 1),
]


@pytest.mark.parametrize("kind,value", DECLINED)
def test_copy_binary_declines_what_it_does_not_write_as_the_text_path(
    kind: str, value: object
) -> None:
    rows = [StagedRow(False, b"\x01", (1, None)), StagedRow(False, b"\x02", (2, value))]
    types = ["bigint", kind]
    assert copy_binary(rows, 2, True, types) is None
    assert copy_binary(rows, 2, False, types) is None
    assert copy_binary(rows[:1], 2, False, types) is not None
    assert copy_binary([StagedRow(True, b"", (1,))], 2, True, types) is not None


def test_copy_binary_bytes() -> None:
    """The format itself: signature, flags, extension, tuples of (int16 count, fields of
    int32 length and big-endian value), NULL as length -1, the int16 -1 trailer."""
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    row = StagedRow(False, b"\xab", (-2, 1.5, datetime.date(1999, 12, 31)))
    types = ["integer", "double precision", "date"]
    tuple_ = b"\x00\x04" + b"\x00\x00\x00\x04\xff\xff\xff\xfe"
    tuple_ += b"\x00\x00\x00\x08" + struct.pack(">d", 1.5)
    tuple_ += b"\x00\x00\x00\x04\xff\xff\xff\xff" + b"\x00\x00\x00\x01\xab"
    assert copy_binary([row], 3, False, types) == header + tuple_ + b"\xff\xff"
    delete = StagedRow(True, b"", (7,))
    staged = b"\x00\x05" + b"\x00\x00\x00\x01\x01" + b"\x00\x00\x00\x00"
    staged += b"\x00\x00\x00\x04\x00\x00\x00\x07" + b"\xff\xff\xff\xff" * 2
    assert copy_binary([delete], 3, True, types) == header + staged + b"\xff\xff"
    assert copy_binary([], 3, True, types) == header + b"\xff\xff"


def test_copy_binary_declines_malformed_rows() -> None:
    types = ["bigint", "text"]
    assert copy_binary([StagedRow(False, b"", (1,))], 2, False, types) is None  # short
    assert copy_binary([StagedRow(False, b"", (1, "a", "b"))], 2, True, types) is None
    assert copy_binary([StagedRow(False, bytearray(), (1, "a"))], 2, True, types) is None  # type: ignore[arg-type]
    assert copy_binary([StagedRow(1, b"", (1, "a"))], 2, True, types) is None  # type: ignore[arg-type]


def test_copy_binary_refuses_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        copy_binary([], -1, True, [])
    with pytest.raises(TypeError):
        copy_binary(5, 1, True, ["text"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        copy_binary([], 1, True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        copy_binary([], 2, True, ["text"])  # one type per column
    with pytest.raises(TypeError):
        copy_binary([], 1, True, [5])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        copy_binary([object()], 1, False, ["text"])


def _typed_schema() -> WriterSchema:
    """A value schema of every kind of Avro field a view column can have."""

    def logical(base: str, name: str, **extra: object) -> dict[str, object]:
        return {"type": base, "logicalType": name, **extra}

    kinds: dict[str, object] = {
        "flag": "boolean",
        "small": "int",
        "big": "long",
        "ratio": "float",
        "amount": "double",
        "label": "string",
        "blob": "bytes",
        "code": {"type": "fixed", "name": "Code", "size": 2},
        "colour": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]},
        "price": logical("bytes", "decimal", precision=10, scale=2),
        "day": logical("int", "date"),
        "at_ms": logical("int", "time-millis"),
        "at_us": logical("long", "time-micros"),
        "ts_ms": logical("long", "timestamp-millis"),
        "ts_us": logical("long", "timestamp-micros"),
        "local_ms": logical("long", "local-timestamp-millis"),
        "local_us": logical("long", "local-timestamp-micros"),
        "ident": logical("string", "uuid"),
        "tags": {"type": "array", "items": "string"},
    }
    fields: list[dict[str, object]] = [{"name": "id", "type": "long"}]
    fields += [{"name": n, "type": ["null", t], "default": None} for n, t in kinds.items()]
    return WriterSchema(20, {"type": "record", "name": "Value", "fields": fields})


def _typed_value(key: int, json: bool) -> dict[str, Any]:
    """The values fastavro decodes for _typed_schema; every third row all NULL (and without
    a decimal and an array, unless ``json``: those the text path writes)."""
    if key % 3 == 0:
        return {"id": key}
    stamp = STAMPS[key % len(STAMPS)]
    return {
        "id": key,
        "flag": key % 2 == 0,
        "small": -key,
        "big": 2**62 + key,
        "ratio": _float32(key / 7),
        "amount": key / 3,
        "label": f"é{key}\t\\",
        "blob": bytes([key % 256, 0]),
        "code": b"\x00\xff",
        "colour": "GREEN",
        "price": decimal.Decimal(f"{key}.25") if json else None,
        "day": stamp.date(),
        "at_ms": stamp.time().replace(microsecond=stamp.microsecond // 1000 * 1000),
        "at_us": stamp.time(),
        "ts_ms": stamp.replace(tzinfo=UTC, microsecond=stamp.microsecond // 1000 * 1000),
        "ts_us": stamp.replace(tzinfo=UTC),
        "local_ms": stamp.replace(microsecond=stamp.microsecond // 1000 * 1000),
        "local_us": stamp,
        "ident": uuid.UUID(int=key),
        "tags": ["a", str(key)] if json else None,
    }


def _typed_batch(keys: range, offset: int, json: bool, deletes: bool) -> list[ChangeRecord]:
    schema = _typed_schema()
    out = []
    for n, key in enumerate(keys):
        base = records([Event(key, {})], [offset + n])[0]
        value = None if deletes and key % 10 == 0 else _typed_value(key, json)
        op = base.op if value is not None else Op.DELETE
        out.append(
            ChangeRecord(
                base.topic, 0, offset + n, op, base.position, base.key, value, base.key_schema,
                schema if value is not None else None,
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("json", [False, True])
def test_a_view_of_every_type_is_the_view_the_text_path_makes(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, json: bool
) -> None:
    """Through PostgresTarget: a bulk COPY of new keys, then staged upserts and deletes, with
    COPY binary (all of it, or, with decimals and arrays, none of it) and with the text path
    only; the tables are the same, row for row."""
    binary: list[tuple[bool, bool]] = []  # (staged, written)

    def spied(rows: Sequence[StagedRow], width: int, staged: bool, types: Any) -> bytes | None:
        data = copy_binary(rows, width, staged, types)
        binary.append((staged, data is not None))
        return data

    tables = []
    for schema, writer in (("b", spied), ("t", lambda *_: None)):
        monkeypatch.setattr(_speedups, "copy_binary", writer)
        applier = Applier(view(pg_database, schema), PostgresTarget(pg_database, schema))
        applier.apply(_typed_batch(range(1, 40), 1, json, False))  # new keys: into the table
        applier.apply(_typed_batch(range(20, 60), 100, json, True))  # staged
        with psycopg.connect(pg_database) as conn:
            query = f'SELECT t::text FROM "{schema}"."items" t ORDER BY 1'.encode()
            tables.append(conn.execute(query).fetchall())
    assert binary == [(False, not json), (True, not json)]
    assert len(tables[0]) == 59 - 4 and tables[0] == tables[1]
