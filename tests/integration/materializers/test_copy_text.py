"""``_speedups.copy_text`` on a real server: the COPY text it writes loads the very rows
psycopg's ``write_row`` loads, for every type it writes; anything else it declines."""

from __future__ import annotations

import datetime
import decimal
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest

from strangler.materializers._speedups import copy_text
from strangler.materializers.target import StagedRow

pytestmark = pytest.mark.integration

COLUMNS = [
    ("k", "bigint"),
    ("i", "integer"),
    ("b", "boolean"),
    ("d", "double precision"),
    ("r", "real"),
    ("t", "text"),
    ("y", "bytea"),
    ("tz", "timestamptz"),
    ("ts", "timestamp"),
    ("dt", "date"),
    ("tm", "time"),
]
UTC = datetime.UTC
AWKWARD_TEXT = ["", "\\", "a\tb", "line\nline", "cr\r", "\\N", "é ☃ 𝄞", "\\x00", " ", "\x01\x7f"]
SPECIAL_FLOATS = [0.0, -0.0, 1e-310, 1e300, 0.1, float("inf"), float("-inf"), float("nan")]


def random_value(rng: random.Random, column: str) -> Any:
    if rng.random() < 0.1:
        return None
    stamp = datetime.datetime(1, 1, 1) + datetime.timedelta(
        microseconds=rng.randrange(315_537_897_600_000_000)
    )
    if rng.random() < 0.3:
        stamp = stamp.replace(microsecond=0)
    values: dict[str, Any] = {
        "i": rng.randrange(-(2**31), 2**31),
        "b": rng.random() < 0.5,
        "d": rng.choice([*SPECIAL_FLOATS, rng.uniform(-1e6, 1e6), rng.random()]),
        "r": rng.choice([1.5, 0.1, -3.25e10, float("inf")]),
        "t": rng.choice([*AWKWARD_TEXT, "".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(9))]),
        "y": bytes(rng.randrange(256) for _ in range(rng.randrange(20))),
        "tz": stamp.replace(tzinfo=UTC),
        "ts": stamp,
        "dt": stamp.date(),
        "tm": stamp.time(),
    }
    return values[column]


def staged_rows(
    count: int,
    deletes: bool,
    columns: Sequence[tuple[str, str]] = COLUMNS,
    value: Callable[[random.Random, str], Any] = random_value,
) -> list[StagedRow]:
    """Rows of random values of ``columns`` (a key first), about 30% of them deletes if
    ``deletes``; positions of 8, 3 or 0 bytes."""
    rng = random.Random(7)
    out = []
    for n in range(count):
        position = rng.randbytes(rng.choice([8, 8, 3, 0]))
        key = (rng.choice([n, -n, 2**63 - 1 - n, -(2**63) + n]),)
        if deletes and rng.random() < 0.3:
            out.append(StagedRow(True, position, key))
        else:
            values = tuple(value(rng, name) for name, _ in columns[1:])
            out.append(StagedRow(False, position, key + values))
    return out


def make_tables(
    conn: psycopg.Connection[Any],
    tables: Sequence[str],
    columns: Sequence[tuple[str, str]],
    staged: bool,
) -> None:
    """Tables of these columns, and of a delete flag first if ``staged``, and a position last."""
    cols = ", ".join(f"{name} {kind}" for name, kind in columns)
    flag = "del boolean, " if staged else ""
    for table in tables:
        conn.execute(f"CREATE TABLE {table} ({flag}{cols}, pos bytea)".encode())


def _load(conn: psycopg.Connection[Any], table: str, rows: list[StagedRow], staged: bool) -> None:
    """``rows`` into ``table``: through the C text for tables named ``*_c``, else write_row."""
    width = len(COLUMNS)
    names = [n for n, _ in COLUMNS]  # the staging table's order: flag, position, columns
    names = ["del", "pos", *names] if staged else [*names, "pos"]
    query = f"COPY {table} ({', '.join(names)}) FROM STDIN".encode()
    with conn.cursor() as cur, cur.copy(query) as copy:
        if table.endswith("_c"):
            text = copy_text(rows, width, staged)
            assert text is not None
            copy.write(text)
            return
        for row in rows:
            values = row.values + (None,) * (width - len(row.values))
            if staged:
                copy.write_row((row.delete, row.position, *values))
            else:
                copy.write_row((*values, row.position))


@pytest.mark.parametrize("staged", [True, False])
def test_copy_text_loads_what_write_row_loads(pg_database: str, staged: bool) -> None:
    rows = staged_rows(3_000, deletes=staged)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        make_tables(conn, ("via_psycopg", "via_c"), COLUMNS, staged)
        for table in ("via_psycopg", "via_c"):
            _load(conn, table, rows, staged)
        # text forms compare NaN equal to NaN and -0 apart from 0, as the rows should
        select = "SELECT {}::text FROM {} ORDER BY 1"
        for name in [*(["del"] if staged else []), *(n for n, _ in COLUMNS), "pos"]:
            found = [
                conn.execute(select.format(name, t).encode()).fetchall()
                for t in ("via_psycopg", "via_c")
            ]
            assert found[0] == found[1], name
        assert conn.execute("SELECT count(*) FROM via_c").fetchone() == (len(rows),)


@pytest.mark.parametrize(
    "value",
    [
        decimal.Decimal("1.5"),
        uuid.UUID(int=5),
        "nul \x00 inside",
        "lone \ud800 surrogate",
        2**63,
        -(2**63) - 1,
        datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        datetime.time(1, 2, tzinfo=UTC),
        [1],
    ],
)
def test_copy_text_declines_what_it_does_not_write_like_psycopg(value: object) -> None:
    rows = [StagedRow(False, b"\x01", (1, "fine")), StagedRow(False, b"\x02", (2, value))]
    assert copy_text(rows, 2, True) is None
    assert copy_text(rows, 2, False) is None
    assert copy_text(rows[:1], 2, False) == b"1\tfine\t\\\\x01\n"
    assert copy_text(rows[:1], 3, False) is None  # an unstaged row has every column
    assert copy_text([StagedRow(True, b"", (1,))], 2, True) == b"t\t\\\\x\t1\t\\N\n"


def test_copy_text_refuses_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        copy_text([], -1, True)
    with pytest.raises(TypeError):
        copy_text(5, 1, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        copy_text([], 1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        copy_text([object()], 1, False)
