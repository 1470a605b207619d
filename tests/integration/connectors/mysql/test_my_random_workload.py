"""A randomized DML workload with DDL mid-stream: the stream from the start reproduces the
tables exactly, as a reader of the Avro records would see them (a column added later reads as
its default NULL in older records; a dropped column is no longer read), and resuming from any
stored transaction position yields exactly the rest."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pymysql
import pytest

from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.connectors.mysql.transactions import Transaction
from strangler.core.events import Op, TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import (
    execute,
    position_now,
    settings,
    stream_all,
)

pytestmark = pytest.mark.integration

State = dict[TableId, dict[tuple[Any, ...], dict[str, Any]]]


def _statement(rng: random.Random, table: str, step: int, has_name: bool) -> str:
    key = rng.randint(1, 40)
    action = rng.random()
    if action < 0.45:
        if not has_name:
            return (
                f"INSERT INTO {table} (id, qty) VALUES ({key}, {step}) "
                "ON DUPLICATE KEY UPDATE qty = qty + 1"
            )
        return (
            f"INSERT INTO {table} (id, qty, name) VALUES ({key}, {step}, 'n{step}') "
            "ON DUPLICATE KEY UPDATE qty = qty + 1, name = CONCAT(name, '+')"
        )
    if action < 0.8:  # moves the row to another key: an update that changes the key
        return f"UPDATE IGNORE {table} SET qty = qty * 2, id = id + 100 WHERE id = {key}"
    return f"DELETE FROM {table} WHERE id = {key} OR id = {key + 100}"


def _workload(db: MysqlDatabase, seed: int) -> None:
    rng = random.Random(seed)
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=False)
    try:
        _steps(conn, rng)
    finally:
        conn.close()


def _steps(conn: pymysql.Connection[Any], rng: random.Random) -> None:
    with conn.cursor() as cur:
        for step in range(240):
            if step == 80:
                cur.execute("ALTER TABLE a ADD COLUMN note varchar(20) NULL")
            if step == 120:
                cur.execute("TRUNCATE TABLE b")
            if step == 160:
                cur.execute("ALTER TABLE b DROP COLUMN name")
            if step >= 80 and rng.random() < 0.2:
                cur.execute(f"UPDATE a SET note = 's{step}' WHERE id % 3 = {step % 3}")
            for _ in range(rng.randint(1, 4)):
                table = rng.choice(["a", "b"])
                cur.execute(_statement(rng, table, step, table == "a" or step < 160))
            conn.commit()


def _apply(state: State, tx: Transaction) -> None:
    for event in tx.events:
        rows = state.setdefault(event.table, {})
        if event.op is Op.TRUNCATE:
            rows.clear()
            continue
        if event.before is not None:
            rows.pop((event.before["id"],), None)
        if event.after is not None:
            rows[(event.after["id"],)] = dict(event.after)


def _as_read(state: State, db: MysqlDatabase) -> State:
    """The state as a reader with the tables' current schemas resolves it."""
    out: State = {}
    with SnapshotReader(settings(db)) as snapshot:
        for name in ("a", "b"):
            table = TableId(db.name, name)
            columns = [c.name for c in snapshot.describe(table).columns]
            out[table] = {
                k: {c: row.get(c) for c in columns} for k, row in state.get(table, {}).items()
            }
    return out


def _tables(db: MysqlDatabase) -> State:
    out: State = {}
    with SnapshotReader(settings(db)) as snapshot:
        for name in ("a", "b"):
            codec = snapshot.describe(TableId(db.name, name))
            events = [e for chunk in snapshot.read(codec) for e in chunk.events]
            out[codec.schema.table] = {(e.after["id"],): dict(e.after) for e in events if e.after}
    return out


def test_random_workload_with_ddl_is_reproduced_and_resumable(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    for name in ("a", "b"):
        execute(db, f"CREATE TABLE {name} (id int PRIMARY KEY, qty bigint, name varchar(200))")
    start = position_now(db)
    _workload(db, seed=5)
    txs = stream_all(db, start)
    assert len({tx.position for tx in txs}) == len(txs)
    assert all(earlier.position < later.position for earlier, later in itertools.pairwise(txs))
    assert {d.kind for tx in txs for d in tx.ddl} == {"alter", "truncate"}

    events = [e for tx in txs for e in tx.events]
    moved = [
        e
        for e in events
        if e.op is Op.UPDATE and e.before and e.after and e.before["id"] != e.after["id"]
    ]
    assert moved and any(e.op is Op.DELETE for e in events)
    assert sum(d.kind == "alter" for tx in txs for d in tx.ddl) == 2

    state: State = {}
    for tx in txs:
        _apply(state, tx)
    final = _tables(db)
    assert sum(len(rows) for rows in final.values()) > 10
    assert _as_read(state, db) == final

    rng = random.Random(11)
    for cut in sorted(rng.sample(range(len(txs) - 1), 3)):
        stored = BinlogPosition.parse(txs[cut].position.encode())
        resumed = stream_all(db, stored)
        assert [tx.gtid for tx in resumed] == [tx.gtid for tx in txs[cut + 1 :]]
        assert [tx.events for tx in resumed] == [tx.events for tx in txs[cut + 1 :]]
