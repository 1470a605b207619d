"""The applier against a real SQLite file: upserts, deletes, guard, truncate, offsets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.sqlite_target import WAL_CHECKPOINT_PAGES, SqliteTarget
from strangler.materializers.tables import POSITION_COLUMN
from tests.unit.materializers.changelog import TOPIC, Event, normalise, records, replay

pytestmark = pytest.mark.unit


def view_config(path: Path, **topic: object) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"sqlite": {"path": str(path)}},
            "topics": [{"topic": TOPIC, "table": "items", **topic}],
        }
    )


def table(path: Path, name: str = "items") -> tuple[list[str], dict[int, tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    cur = conn.execute(f'SELECT * FROM "{name}" ORDER BY 1')
    names = [d[0] for d in cur.description]
    keep = [i for i, n in enumerate(names) if n != POSITION_COLUMN][1:]
    rows = {r[0]: tuple(r[i] for i in keep) for r in cur.fetchall()}
    conn.close()
    return [names[i] for i in keep], rows


def test_upserts_deletes_and_offsets(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    events = [
        Event(1, {"name": "a", "amount": 1}),
        Event(2, {"name": "b", "amount": 2}),
        Event(1, {"name": "a2", "amount": 3}),
        Event(2),
        Event(3, {"name": "c"}),
    ]
    applier = Applier(view_config(db), SqliteTarget(db))
    applier.apply(records(events, range(10, 15)))
    columns, rows = table(db)
    assert columns == ["name", "amount"]
    assert rows == normalise(replay(events), columns)
    assert applier.stored_offsets() == {(TOPIC, 0): 5}


def test_older_position_never_wins(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    newer = records([Event(1, {"name": "new"}), Event(2)], [20, 20])
    older = records([Event(1, {"name": "old"}), Event(2, {"name": "zombie"})], [10, 10])
    applier.apply(newer)
    applier.apply(older)
    assert table(db)[1] == {1: ("new", None)}


def test_same_transaction_changes_apply_in_log_order(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    applier.apply(records([Event(1, {"name": "x"}), Event(1), Event(1, {"name": "y"})], [5] * 3))
    assert table(db)[1] == {1: ("y", None)}


def test_truncate_clears_rows_before_it_only(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    events = [Event(1, {"name": "a"}), Event(None), Event(2, {"name": "b"})]
    applier.apply(records(events[:1], [1]))
    applier.apply(records(events[1:], [2, 3]))
    assert table(db)[1] == {2: ("b", None)}


def test_schema_change_adds_a_column(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    events = [Event(1, {"name": "a"}), Event(2, {"name": "b", "note": "n"}, version=2)]
    applier.apply(records(events, [1, 2]))
    columns, rows = table(db)
    assert columns == ["name", "amount", "note"]
    assert rows == {1: ("a", None, None), 2: ("b", None, "n")}


def test_filter_deletes_rows_that_stop_matching(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    config = view_config(db, filter={"all": [{"column": "amount", "op": "gt", "value": 10}]})
    applier = Applier(config, SqliteTarget(db))
    applier.apply(records([Event(1, {"amount": 50}), Event(2, {"amount": 60})], [1, 2]))
    applier.apply(records([Event(1, {"amount": 5})], [3]))
    assert table(db)[1] == {2: (None, 60)}


def test_projection_and_rename_with_awkward_names(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    config = view_config(db, columns=["name"], rename={"name": 'Naïve "Name"', "id": "select"})
    config = config.model_copy(
        update={"topics": [config.topics[0].model_copy(update={"table": "Order Ünits"})]}
    )
    Applier(config, SqliteTarget(db)).apply(records([Event(7, {"name": "x", "amount": 1})], [1]))
    conn = sqlite3.connect(db)
    cur = conn.execute('SELECT "select", "Naïve ""Name""" FROM "Order Ünits"')
    assert cur.fetchall() == [(7, "x")]


def test_the_wal_is_checkpointed_in_large_steps(tmp_path: Path) -> None:
    target = SqliteTarget(tmp_path / "view.db")
    assert target.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert target.conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (WAL_CHECKPOINT_PAGES,)
    assert WAL_CHECKPOINT_PAGES > 1_000  # SQLite's default


def test_none_is_bound_through_an_adapter_that_hands_it_back(tmp_path: Path) -> None:
    from strangler.materializers import _speedups

    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)] is _speedups.same
    db = tmp_path / "view.db"
    events = [Event(1, {"name": None, "amount": None}), Event(2, {"name": "x", "amount": None})]
    Applier(view_config(db), SqliteTarget(db)).apply(records(events, [1, 2]))
    conn = sqlite3.connect(db)
    nulls = conn.execute('SELECT id FROM "items" WHERE "name" IS NULL AND "amount" IS NULL')
    assert nulls.fetchall() == [(1,)]
    conn.close()


def test_statements_check_deleted_keys_only_once_there_are_some(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    target = SqliteTarget(db)
    statements: list[str] = []
    target.conn.set_trace_callback(statements.append)
    applier = Applier(view_config(db), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    applier.apply(records([Event(1, {"name": "c"})], [3]))  # an existing key: the upsert

    def writes() -> list[str]:
        found = [s for s in statements if s.startswith('INSERT INTO "items" ')]
        statements.clear()
        return found

    checked = ["NOT EXISTS" in s for s in writes()]
    assert len(checked) == 4 and not any(checked)  # 3 inserts (one undone), 1 upsert
    applier.apply(records([Event(2, None), Event(3, {"name": "d"})], [4, 5]))
    applier.apply(records([Event(2, {"name": "stale"}), Event(3, {"name": "e"})], [3, 6]))
    checked = ["NOT EXISTS" in s for s in writes()]
    assert len(checked) == 3 and all(checked)  # upserts now (the insert path is done)
    assert table(db)[1] == {1: ("c", None), 3: ("e", None)}


def test_a_prepared_batch_applies_as_an_unprepared_one(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    first = [Event(1, {"name": "a"}), Event(2, {"name": "b"}), Event(3, {"name": "c"})]
    batch = records(first, [1, 2, 3])
    assert applier.prepare(batch) is None  # the tables are not known before a commit
    applier.apply(batch)
    second = [Event(1, {"name": "a2", "amount": 7}), Event(2), Event(4, {"name": "d"})]
    batch = records(second, [4, 5, 6])
    prepared = applier.prepare(batch)
    assert prepared is not None
    applier.apply(batch, prepared)
    columns, rows = table(db)
    assert rows == normalise(replay([*first, *second]), columns)
    assert applier.stored_offsets() == {(TOPIC, 0): 3}


def test_a_batch_prepared_before_a_truncate_is_staged_again(tmp_path: Path) -> None:
    """Prepared while the batch before (with a truncate) was in flight: the truncate mark it
    was staged against is stale, so the applier stages it again and drops the older row."""
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    applier.apply(records([Event(1, {"name": "a"})], [1]))
    late = records([Event(2, {"name": "older than the truncate"})], [5])
    prepared = applier.prepare(late)
    assert prepared is not None
    applier.apply(records([Event(None), Event(3, {"name": "c"})], [10, 11]))
    applier.apply(late, prepared)
    assert table(db)[1] == {3: ("c", None)}


def test_a_batch_that_changes_or_truncates_a_table_is_not_prepared(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    applier = Applier(view_config(db), SqliteTarget(db))
    applier.apply(records([Event(1, {"name": "a"})], [1]))
    evolving = records([Event(2, {"name": "b", "note": "n"}, version=2)], [2])
    assert applier.prepare(evolving) is None
    assert applier.prepare(records([Event(None)], [3])) is None
    assert applier.prepare(records([Event(2, {"name": "b"})], [4])) is not None
