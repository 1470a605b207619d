"""The native row decoder on a real MariaDB's binlog: rows of every mapped type (and edge
values, NULLs, zero dates, charsets), inserted, updated and deleted, decoded from the same row
events by the C decoder and by the Python path (python-mysql-replication + ``from_binlog``)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from strangler.connectors.mysql.binlog import Rows
from strangler.connectors.mysql.stream import BinlogSource
from strangler.connectors.mysql.transactions import TransactionAssembler
from strangler.core.events import Op
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import (
    execute,
    position_now,
    reader_id,
    settings,
)
from tests.integration.connectors.mysql.test_my_type_round_trip import CASES
from tests.unit.connectors.mysql.my_native_support import normalized

pytestmark = pytest.mark.integration

_DECIMALS = [(1, 0), (4, 4), (9, 0), (10, 2), (18, 9), (19, 4), (27, 13), (38, 38), (65, 0),
             (65, 30)]  # fmt: skip
_FSP = range(7)
_WIDE = "-12345678901234567890123456789012345." + "0" * 29 + "1"


def _edges_table() -> str:
    decimals = ", ".join(f"d{p}_{s} decimal({p},{s})" for p, s in _DECIMALS)
    temporal = ", ".join(
        f"dt{f} datetime({f}), ts{f} timestamp({f}) NULL, tm{f} time({f})" for f in _FSP
    )
    return (
        f"CREATE TABLE edges (id int PRIMARY KEY, {decimals}, {temporal}, "
        "l1 varchar(30) CHARACTER SET latin1, u8 varchar(300) CHARACTER SET utf8mb4, "
        "asc1 char(5) CHARACTER SET ascii, big text, e enum('x','ÿ','z') CHARACTER SET latin1)"
    )


def _decimal(rng: random.Random, precision: int, scale: int) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(precision))
    text = (digits[: precision - scale] or "0") + (
        "." + digits[precision - scale :] if scale else ""
    )
    return ("-" if rng.random() < 0.5 else "") + text


def _edges_row(rng: random.Random, i: int) -> str:
    values: list[Any] = [str(i)]
    values += [_decimal(rng, p, s) for p, s in _DECIMALS]
    for f in _FSP:
        frac = f".{rng.randrange(10**6):06d}"[: f + 1] if f else ""
        day = f"{rng.randrange(1000, 9999)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        stamp = f"{rng.randrange(1971, 2038)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        values += [f"'{day} {clock}{frac}'", f"'{stamp} {clock}{frac}'", f"'{clock}{frac}'"]
    text = "".join(rng.choice("aé€ß ü✓日🎉") for _ in range(rng.randrange(0, 40)))
    latin = "".join(rng.choice("aé€ßü ") for _ in range(rng.randrange(0, 30)))
    values += [f"'{latin}'", f"'{text}'", "'ab'", f"'{text * 50}'", f"'{rng.choice('xÿz')}'"]
    return "(" + ", ".join(values) + ")"


def _write(db: MysqlDatabase) -> None:
    columns = ", ".join(f"c{i} {case.sql_type}" for i, case in enumerate(CASES))
    literals = ", ".join(case.literal for case in CASES)
    rng = random.Random(5)
    edges = ", ".join(_edges_row(rng, i) for i in range(1, 41))
    execute(
        db,
        f"CREATE TABLE types (id int PRIMARY KEY, {columns}) CHARACTER SET utf8mb4",
        _edges_table(),
        f"INSERT INTO types VALUES (1, {literals}), (2{', NULL' * len(CASES)})",
        f"INSERT INTO types (id) VALUES {', '.join(f'({i})' for i in range(3, 200))}",
        f"INSERT INTO edges VALUES {edges}",
        "INSERT INTO edges (id) VALUES (100), (101)",
        "UPDATE types SET id = id + 1000, c3 = -1 WHERE id <= 2",
        "UPDATE types SET c3 = 7 WHERE id > 2",
        "UPDATE edges SET dt6 = '0000-00-00 00:00:00', d10_2 = -d10_2",
        "DELETE FROM types WHERE id > 100",
        "DELETE FROM edges WHERE id % 2 = 0",
        sql_mode="",
    )


def _both(rows: Rows, assembler: TransactionAssembler) -> tuple[Any, Any]:
    codec = assembler.codec(rows.table_map)
    assert codec.native is not None, f"{rows.table_map.table}: the native decoder declined"
    assert rows.image is not None
    convert = codec.from_binlog
    python = [
        (convert(b) if b is not None else None, convert(a) if a is not None else None)
        for b, a in rows.parse()
    ]
    return normalized(python), normalized(codec.from_image(rows.op, rows.image))


def test_native_and_python_decode_the_same_binlog_events(mysql_database: MysqlDatabase) -> None:
    db = mysql_database
    start = position_now(db)
    _write(db)
    assembler = TransactionAssembler()
    ops: dict[Op, int] = {}
    with BinlogSource(
        settings(db), server_id=reader_id(), start=start, schemas=[db.name], blocking=False
    ) as source:
        for event in source.reader:
            if not isinstance(event, Rows) or event.table_map.table.schema != db.name:
                continue
            python, native = _both(event, assembler)
            assert native == python, event.table_map.table
            ops[event.op] = ops.get(event.op, 0) + len(native)
    assert ops == {Op.CREATE: 2 + 197 + 42, Op.UPDATE: 2 + 199 + 42, Op.DELETE: 101 + 21}


def test_decimal_spot_values_from_the_server(mysql_database: MysqlDatabase) -> None:
    """Values whose text is known, so a bug shared by both paths would still show."""
    db = mysql_database
    start = position_now(db)
    execute(
        db,
        "CREATE TABLE d (id int PRIMARY KEY, a decimal(65,30), b decimal(10,2), c decimal(5,5))",
        f"INSERT INTO d VALUES (1, '{_WIDE}', '-0.01', '-0.12345'), (2, 0, '99999999.99', 0)",
    )
    assembler = TransactionAssembler()
    with BinlogSource(
        settings(db), server_id=reader_id(), start=start, schemas=[db.name], blocking=False
    ) as source:
        found = [
            after
            for event in source.reader
            if isinstance(event, Rows) and event.table_map.table.schema == db.name
            for _, after in (
                assembler.codec(event.table_map).from_image(event.op, event.image or b"") or []
            )
        ]
    assert found == [
        {"id": 1, "a": Decimal(_WIDE),
         "b": Decimal("-0.01"), "c": Decimal("-0.12345")},
        {"id": 2, "a": Decimal("0E-30"), "b": Decimal("99999999.99"), "c": Decimal("0.00000")},
    ]  # fmt: skip
