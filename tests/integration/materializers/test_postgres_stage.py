"""The PostgreSQL target's staging tables on a real server: one per connection and table shape,
made at the shape's first batch, emptied by each commit; made again after a reconnect or a
rollback of the transaction that made it; emptied before a second batch of one transaction;
upserted from in key order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from strangler.materializers.applier import Applier
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.target import StagedRow
from tests.integration.materializers.test_postgres_target import view
from tests.integration.materializers.views import matches, postgres_rows
from tests.unit.materializers.changelog import TOPIC, Event, position, records, replay

pytestmark = pytest.mark.integration


def _spy(
    target: PostgresTarget,
    monkeypatch: pytest.MonkeyPatch,
    seen: Callable[[str, Sequence[object] | None], None],
) -> None:
    """Show ``seen`` each statement the target executes or defers from now on (a deferred one
    when it is deferred, before it is sent with the next)."""
    execute, defer = target._execute, target._defer

    def spied(statement: str, params: Sequence[object] | None = None) -> None:
        seen(statement, params)
        execute(statement, params)

    def deferred(statement: str) -> None:
        seen(statement, None)
        defer(statement)

    monkeypatch.setattr(target, "_execute", spied)
    monkeypatch.setattr(target, "_defer", deferred)


def test_a_staging_table_per_connection_and_shape(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    made: list[str] = []  # the names of the staging tables created

    def creates(statement: str, _: Sequence[object] | None) -> None:
        if statement.startswith("CREATE TEMP TABLE"):
            made.append(statement.split()[6])

    _spy(target, monkeypatch, creates)
    batches = [
        [Event(k, {"name": f"n{k}"}) for k in range(4)],  # new keys: COPYed, no staging
        [Event(1), Event(2, {"name": "m2"})],
        [Event(1, {"name": "back"}), Event(3)],
        [Event(2, {"name": "v2", "note": "x"}, version=2)],  # a column added: a new shape
        [Event(0, {"name": "m0", "note": "y"}, version=2)],
        [Event(4, {"name": "n4"}), Event(0)],  # after a reconnect
    ]
    for n, batch in enumerate(batches):
        if n == len(batches) - 1:
            target.conn.close()
        applier.apply(records(batch, range(10 * n + 1, 10 * n + 1 + len(batch))))
    assert len(made) == 3 and made[0] != made[1] and made[1] == made[2], made
    events = [e for batch in batches for e in batch]
    assert matches(postgres_rows(pg_database, "s"), replay(events))


def _upsert(key: int, name: str, at: int) -> StagedRow:
    return StagedRow(False, position(at), (key, name, None))


def test_a_staging_table_of_a_rolled_back_transaction_is_made_again(pg_database: str) -> None:
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    spec = target.load_tables("v")[TOPIC].spec
    target.begin()
    target.apply(spec, [StagedRow(True, position(3), (2,))])  # makes the staging table
    target.rollback()
    target.begin()
    target.apply(spec, [StagedRow(True, position(4), (2,))])  # would find none: made again
    target.commit()
    assert postgres_rows(pg_database, "s")[1] == {1: ("a", None)}


def test_two_batches_of_one_table_in_one_transaction(pg_database: str) -> None:
    """The second finds the staging table empty (else its key would be staged twice: ON
    CONFLICT refuses to update a row twice in one statement)."""
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    applier.apply(records([Event(2)], [3]))  # a deleted key: every batch is staged now
    spec = target.load_tables("v")[TOPIC].spec
    for _ in range(2):  # the second time, the commit before emptied the staging table
        target.begin()
        target.apply(spec, [_upsert(1, "c", 4), _upsert(5, "e", 5)])
        target.apply(spec, [_upsert(1, "d", 6)])
        target.commit()
    assert postgres_rows(pg_database, "s")[1] == {1: ("d", None), 5: ("e", None)}


def test_staged_rows_are_upserted_in_key_order(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    applier.apply(records([Event(k, {"name": f"n{k}"}) for k in range(100)], range(1, 101)))
    upserts: list[str] = []  # their plans

    def explain(statement: str, params: Sequence[object] | None) -> None:
        if statement.startswith("INSERT INTO") and "_strangler_stage" in statement:
            query = f"EXPLAIN (COSTS OFF) {statement}".encode()
            upserts.append("\n".join(r[0] for r in target.conn.execute(query, params)))

    _spy(target, monkeypatch, explain)
    events = [Event(k, {"name": "again"}) for k in (70, 3, 55, 12, 99)]
    applier.apply(records(events, range(200, 205)))
    assert len(upserts) == 1 and "Sort Key: s.id" in upserts[0], upserts
    rows = postgres_rows(pg_database, "s")[1]
    assert all(rows[k] == ("again", None) for k in (70, 3, 55, 12, 99)) and len(rows) == 100


def test_statements_are_planned_for_each_batch(pg_database: str) -> None:
    """None is prepared (psycopg would prepare a statement at its fifth run, and a prepared
    one keeps the plan of the batch it was prepared in, for batches of any size)."""
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    applier.apply(records([Event(k, {"name": f"n{k}"}) for k in range(10)], range(1, 11)))
    for n in range(8):  # a deleted key in each: every batch is staged
        batch = [Event(n), Event(10 + n, {"name": "x"})]
        applier.apply(records(batch, [20 + 2 * n, 21 + 2 * n]))
    prepared = target.conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert prepared == []
    assert sorted(postgres_rows(pg_database, "s")[1]) == [8, 9, *range(10, 18)]
