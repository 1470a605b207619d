"""Transaction assembly from binlog events, for MariaDB's and MySQL's event shapes."""

from __future__ import annotations

import pytest

from strangler.connectors.mysql.binlog import Gtid, Query, RawPairs, Rows, TableMap, Xid
from strangler.connectors.mysql.ddl import DdlKind
from strangler.connectors.mysql.positions import (
    FilePosition,
    MariadbGtidPos,
    MysqlGtidSet,
)
from strangler.connectors.mysql.transactions import TransactionAssembler
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import Op, TableId

pytestmark = pytest.mark.unit

T = TableId("shop", "items")
MAP = TableMap(
    T, (SourceColumn("id", "int", nullable=False), SourceColumn("n", "varchar")), ("id",)
)
SID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def _rows(op: Op, pairs: RawPairs) -> Rows:
    """A row event as the library would decode it (no row images: the Python path)."""
    return Rows(MAP, op, lambda: pairs)


def _at(pos: int) -> FilePosition:
    return FilePosition("binlog.000001", pos)


def test_mariadb_dml_then_standalone_ddl() -> None:
    assembler = TransactionAssembler(MariadbGtidPos.parse("0-1-4,1-1-9"))
    assert assembler.feed(Gtid("0-1-5", False, 100), _at(10)) is None
    assembler.feed(MAP, _at(20))
    assembler.feed(_rows(Op.CREATE, ((None, {"id": 1, "n": "a"}),)), _at(30))
    assembler.feed(_rows(Op.UPDATE, (({"id": 1, "n": "a"}, {"id": 1, "n": "b"}),)), _at(40))
    tx = assembler.feed(Xid(77, 101), _at(50))
    assert tx is not None and tx.gtid == "0-1-5"
    assert tx.position.encode() == "0-1-5,1-1-9@binlog.000001:50"
    assert [(e.op, e.key, e.commit_ts_us) for e in tx.events] == [
        (Op.CREATE, {"id": 1}, 101_000_000),
        (Op.UPDATE, {"id": 1}, 101_000_000),
    ]
    assert tx.schemas[T].key == ("id",)
    assembler.feed(Gtid("0-1-6", True, 102), _at(60))
    ddl = assembler.feed(Query("shop", "TRUNCATE items", 102), _at(70))
    assert ddl is not None and ddl.position.encode() == "0-1-6,1-1-9@binlog.000001:70"
    assert [d.kind for d in ddl.ddl] == [DdlKind.TRUNCATE]
    assert [(e.op, e.table) for e in ddl.events] == [(Op.TRUNCATE, T)]


def test_mysql_begin_commit_and_ddl_without_begin() -> None:
    assembler = TransactionAssembler(MysqlGtidSet.parse(f"{SID}:1-4"))
    assembler.feed(Gtid(f"{SID}:5", False, 1), _at(10))
    assert assembler.feed(Query("shop", "BEGIN", 1), _at(20)) is None
    assembler.feed(_rows(Op.DELETE, (({"id": 2, "n": None}, None),)), _at(30))
    assert assembler.feed(Query("shop", "ALTER TABLE items ADD x int", 1), _at(35)) is None
    tx = assembler.feed(Query("shop", "COMMIT", 1), _at(40))
    assert tx is not None and [e.op for e in tx.events] == [Op.DELETE]
    assert tx.events[0].before == {"id": 2, "n": None} and tx.events[0].after is None
    assert str(tx.position.gtids) == f"{SID}:1-5"
    assembler.feed(Gtid(f"{SID}:6", False, 2), _at(50))
    ddl = assembler.feed(Query("shop", "DROP TABLE items", 2), _at(60))
    assert ddl is not None and not ddl.events and ddl.ddl[0].kind is DdlKind.DROP
    assert str(ddl.position.gtids) == f"{SID}:1-6"


def test_rows_of_tables_not_included_are_left_out_but_positions_advance() -> None:
    assembler = TransactionAssembler(None, include=lambda t: t.name != "items")
    assembler.feed(Gtid("0-1-1", False, 1), _at(10))
    assembler.feed(_rows(Op.CREATE, ((None, {"id": 1, "n": "a"}),)), _at(20))
    tx = assembler.feed(Xid(1, 1), _at(30))
    assert tx is not None and tx.events == () and tx.position.encode() == "0-1-1@binlog.000001:30"
    # a transaction without GTIDs (no GTID event): BEGIN … COMMIT, file position only
    assembler = TransactionAssembler()
    assembler.feed(Query("shop", "BEGIN", 1), _at(40))
    assembler.feed(_rows(Op.CREATE, ((None, {"id": 1, "n": "a"}),)), _at(50))
    tx = assembler.feed(Xid(2, 1), _at(60))
    assert tx is not None and tx.position.gtids is None and tx.events[0].tx_id is None


def test_rows_are_decoded_only_when_asked_and_weigh_their_images() -> None:
    calls = []

    def parse() -> RawPairs:
        calls.append(1)
        return ((None, {"id": 1, "n": "a"}),)

    assembler = TransactionAssembler()
    assembler.feed(Gtid("0-1-1", False, 1), _at(10))
    assembler.feed(Rows(MAP, Op.CREATE, parse, None), _at(20))
    assembler.feed(Rows(MAP, Op.CREATE, parse, b"\x00" * 1000), _at(30))
    tx = assembler.feed(Xid(1, 1), _at(40))
    assert tx is not None and calls == [] and len(tx.rows) == 2
    assert tx.weight > 1000
    assert [e.after for e in tx.events] == [{"id": 1, "n": "a"}] * 2 and len(calls) == 2
