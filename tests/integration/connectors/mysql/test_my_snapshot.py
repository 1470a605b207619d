"""Snapshot then stream: with writes running during the snapshot, the snapshot's rows plus the
stream from the snapshot's position reproduce the table exactly (no gap, no double)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql
import pytest

from strangler.connectors.mysql.snapshot import LockMode, SnapshotReader, select_sql
from strangler.core.events import ChangeEvent, Op, TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, settings, stream_all

pytestmark = pytest.mark.integration


def _writer(db: MysqlDatabase, stop: threading.Event, seed: int, done: list[int]) -> None:
    """Random single-row writes until stopped; ``done[0]`` counts them, -1 on an error."""
    try:
        _write(db, stop, seed, done)
    except pymysql.MySQLError:
        done[0] = -1
        raise


def _write(db: MysqlDatabase, stop: threading.Event, seed: int, done: list[int]) -> None:
    rng = random.Random(seed)
    conn = pymysql.connect(**settings(db), database=db.name, autocommit=True)
    with conn.cursor() as cur:
        while not stop.is_set():
            key = rng.randint(1, 3000)
            action = rng.random()
            if action < 0.4:
                cur.execute("INSERT IGNORE INTO t VALUES (%s, %s, %s)", (key, key % 7, 0))
            elif action < 0.8:
                cur.execute("UPDATE t SET v = v + 1 WHERE k1 = %s", (key,))
            else:
                cur.execute("DELETE FROM t WHERE k1 = %s", (key,))
            done[0] += 1
    conn.close()


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.01)


def _apply(state: dict[tuple[Any, ...], dict[str, Any]], event: ChangeEvent) -> None:
    assert event.key is not None
    key = tuple(event.key.values())
    if event.op in (Op.READ, Op.CREATE):
        assert key not in state, f"applied twice: {event}"
        state[key] = dict(event.after or {})
    elif event.op is Op.UPDATE:
        assert key in state, f"update of a row never seen: {event}"
        state[key] = dict(event.after or {})
    else:
        assert state.pop(key, None) is not None, f"delete of a row never seen: {event}"


def _table(db: MysqlDatabase) -> dict[tuple[Any, ...], dict[str, Any]]:
    conn = pymysql.connect(**settings(db), database=db.name)
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT k1, k2, v FROM t")
        rows = cur.fetchall()
    conn.close()
    return {(r["k1"], r["k2"]): dict(r) for r in rows}


@pytest.mark.parametrize("lock", [LockMode.NONE, LockMode.GLOBAL])
def test_snapshot_then_stream_has_no_gap_and_no_double(
    mysql_database: MysqlDatabase, lock: LockMode
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (k1 int, k2 int, v int, PRIMARY KEY (k1, k2))")
    values = ", ".join(f"({i}, {i % 7}, {i})" for i in range(1, 2001))
    execute(db, f"INSERT INTO t VALUES {values}")
    stop = threading.Event()
    done = [0]
    writer = threading.Thread(target=_writer, args=(db, stop, 7, done))
    writer.start()
    state: dict[tuple[Any, ...], dict[str, Any]] = {}
    try:
        with SnapshotReader(settings(db), chunk_rows=97, lock=lock) as snapshot:
            codec = snapshot.describe(TableId(db.name, "t"))
            chunks = 0
            opened_at = done[0]
            for chunk in snapshot.read(codec):
                chunks += 1
                if chunks == 2:  # make sure writes commit while the snapshot is being read
                    _wait_until(lambda: done[0] >= opened_at + 50)
                for event in chunk.events:
                    _apply(state, event)
            position = snapshot.position
    finally:
        stop.set()
        writer.join()
    assert done[0] > 0 and chunks > 10
    assert position is not None and position.gtids is not None and position.file is not None
    streamed = stream_all(db, position)
    assert streamed, "the writer committed nothing after the snapshot"
    for tx in streamed:
        for event in tx.events:
            _apply(state, event)
    assert state == _table(db)


def test_chunks_resume_after_a_given_key_and_identifiers_are_quoted(
    mysql_database: MysqlDatabase,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE `we``ird tåble` (`select` bigint unsigned PRIMARY KEY, `a b` int)")
    execute(db, "INSERT INTO `we``ird tåble` VALUES (18446744073709551615, 1), (1, 2), (5, 3)")
    with SnapshotReader(settings(db), chunk_rows=1) as snapshot:
        codec = snapshot.describe(TableId(db.name, "we`ird tåble"))
        first = next(iter(snapshot.read(codec)))
        rest = [
            e.after for chunk in snapshot.read(codec, after=first.last_key) for e in chunk.events
        ]
    assert first.last_key == (1,)
    assert [r["select"] for r in rest if r] == [5, 18446744073709551615]
    query, args = select_sql(codec, ["select"], (5,), 10)
    assert "FROM `" + db.name + "`.`we``ird tåble`" in query and args == [5]


def test_a_table_without_key_is_read_in_bounded_chunks(mysql_database: MysqlDatabase) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE loose (v int)", "INSERT INTO loose VALUES (1), (2), (2), (3), (4)")
    with SnapshotReader(settings(db), chunk_rows=2) as snapshot:
        chunks = list(snapshot.read(snapshot.describe(TableId(db.name, "loose"))))
    assert [[e.after for e in c.events] for c in chunks] == [
        [{"v": 1}, {"v": 2}],
        [{"v": 2}, {"v": 3}],
        [{"v": 4}],
    ]
    assert all(c.last_key is None and all(e.key is None for e in c.events) for c in chunks)
