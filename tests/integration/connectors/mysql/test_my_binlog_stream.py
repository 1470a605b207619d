"""Transactions assembled from a real MariaDB binlog: grouping, positions, resume, DDL, truncate."""

from __future__ import annotations

import pymysql
import pytest

from strangler.connectors.mysql.ddl import DdlKind
from strangler.connectors.mysql.errors import StreamError
from strangler.connectors.mysql.positions import BinlogPosition, MariadbGtidPos
from strangler.core.events import Op, TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import (
    execute,
    position_now,
    settings,
    stream_all,
)

pytestmark = pytest.mark.integration


def _transaction(db: MysqlDatabase, *statements: str) -> None:
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=False)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


def test_rows_grouped_per_transaction_with_keys_images_and_positions(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE `Order Items` (a int, b varchar(5), qty int, PRIMARY KEY (b, a))")
    start = position_now(db)
    _transaction(
        db,
        "INSERT INTO `Order Items` VALUES (1, 'x', 10), (2, 'y', 20)",
        "UPDATE `Order Items` SET qty = 11 WHERE a = 1",
    )
    _transaction(db, "DELETE FROM `Order Items` WHERE a = 2")
    txs = stream_all(db, start)
    assert [[e.op for e in tx.events] for tx in txs] == [
        [Op.CREATE, Op.CREATE, Op.UPDATE],
        [Op.DELETE],
    ]
    insert, _, update = txs[0].events
    assert insert.key == {"b": "x", "a": 1}
    assert list(insert.key) == ["b", "a"]  # the primary key's own order, not column order
    assert update.before == {"a": 1, "b": "x", "qty": 10}
    assert update.after == {"a": 1, "b": "x", "qty": 11}
    delete = txs[1].events[0]
    assert (delete.key, delete.before, delete.after) == (
        {"b": "y", "a": 2},
        {"a": 2, "b": "y", "qty": 20},
        None,
    )
    assert txs[0].schemas[TableId(db.name, "Order Items")].key == ("b", "a")
    # every event carries its transaction's end position; positions grow; the last equals
    # the server's GTID position now
    assert all(e.position == tx.position for tx in txs for e in tx.events)
    assert start < txs[0].position < txs[1].position
    assert txs[-1].position.gtids == position_now(db).gtids
    assert all(e.tx_id == tx.gtid and e.commit_ts_us for tx in txs for e in tx.events)
    files = [tx.position.file for tx in txs]
    assert None not in files and files == sorted(f for f in files if f is not None)


def test_resume_from_a_stored_position_yields_only_later_transactions(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id int PRIMARY KEY)")
    start = position_now(db)
    for i in range(3):
        execute(db, f"INSERT INTO t VALUES ({i})")
    first = stream_all(db, start)
    stored = BinlogPosition.parse(first[0].position.encode())
    resumed = stream_all(db, stored)
    assert [tx.gtid for tx in resumed] == [tx.gtid for tx in first[1:]]
    # file:pos alone resumes at the same point
    assert first[0].position.file is not None
    by_file = stream_all(db, BinlogPosition(file=first[0].position.file))
    assert [e.after for tx in by_file for e in tx.events] == [{"id": 1}, {"id": 2}]
    assert isinstance(by_file[-1].position.gtids, MariadbGtidPos)


def test_rows_before_a_ddl_keep_their_columns_and_truncate_is_an_event(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id int PRIMARY KEY, flag tinyint(1))")
    start = position_now(db)
    execute(
        db,
        "INSERT INTO t VALUES (1, 1)",
        "ALTER TABLE t ADD COLUMN note varchar(10) DEFAULT 'n', MODIFY flag int",
        "INSERT INTO t VALUES (2, 7, 'x')",
        "TRUNCATE TABLE t",
        "RENAME TABLE t TO t2",
        f"CREATE DATABASE `{db.name[:50]}_x`",
        f"CREATE TABLE `{db.name[:50]}_x`.t (id int PRIMARY KEY)",
        f"TRUNCATE TABLE `{db.name[:50]}_x`.t",
        f"DROP DATABASE `{db.name[:50]}_x`",
        "INSERT INTO t2 VALUES (3, 8, 'y')",
    )
    everything = stream_all(db, start, relevant_only=False)
    other = TableId(f"{db.name[:50]}_x", "t")
    assert any(other in d.tables for tx in everything for d in tx.ddl)
    assert not any(e.table == other for tx in everything for e in tx.events)
    txs = stream_all(db, start)
    kinds = [(tuple(e.op for e in tx.events), tuple(d.kind for d in tx.ddl)) for tx in txs]
    assert kinds == [
        ((Op.CREATE,), ()),
        ((), (DdlKind.ALTER,)),
        ((Op.CREATE,), ()),
        ((Op.TRUNCATE,), (DdlKind.TRUNCATE,)),
        ((), (DdlKind.RENAME,)),
        ((Op.CREATE,), ()),
    ]
    old, new = txs[0].events[0], txs[2].events[0]
    # The first row was written with two columns and decodes with two. Its flag is published
    # as an int: the binlog does not carry tinyint(1)'s display width, and the catalog (read
    # after the ALTER) no longer says tinyint(1). Values are exact either way.
    assert old.after == {"id": 1, "flag": 1}
    assert type(old.after["flag"]) is int
    assert new.after == {"id": 2, "flag": 7, "note": "x"}
    v1 = txs[0].schemas[TableId(db.name, "t")]
    v2 = txs[2].schemas[TableId(db.name, "t")]
    assert [c.name for c in v1.columns] == ["id", "flag"]
    assert [c.name for c in v2.columns] == ["id", "flag", "note"]
    assert txs[3].events[0].table == TableId(db.name, "t")
    assert txs[4].ddl[0].tables == (TableId(db.name, "t"), TableId(db.name, "t2"))
    assert txs[5].events[0].table == TableId(db.name, "t2")


def test_a_position_the_server_cannot_serve_is_a_clear_fatal_error(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    now = position_now(db)
    assert isinstance(now.gtids, MariadbGtidPos)
    # a GTID the server never wrote (in strict mode the server refuses to guess)
    future = BinlogPosition(MariadbGtidPos.parse(f"0-1-{now.gtids.seq(0) + 10_000}"))
    with pytest.raises(StreamError) as caught:
        stream_all(db, future)
    assert not caught.value.retriable and "snapshot" in (caught.value.fix or "")
