"""The PostgreSQL target on a real server: refused rows are isolated and dead-lettered,
widening schema changes alter the column type, awkward identifiers work."""

from __future__ import annotations

import psycopg
import pytest

from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.errors import SchemaChangeError, ViewStopped
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.records import ChangeRecord, WriterSchema
from tests.integration.materializers.views import matches, postgres_rows
from tests.unit.materializers.changelog import TOPIC, Event, records, replay

pytestmark = pytest.mark.integration


def view(dsn: str, schema: str, **extra: object) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"postgres": {"dsn": dsn, "schema": schema}},
            "topics": [{"topic": TOPIC, "table": "items"}],
            **extra,
        }
    )


def test_a_refused_row_is_dead_lettered_and_the_rest_applied(pg_database: str) -> None:
    events = [Event(k, {"name": "bad\x00" if k == 3 else f"n{k}"}) for k in range(6)]
    Applier(view(pg_database, "s"), PostgresTarget(pg_database, "s")).apply(
        records(events, range(1, 7))
    )
    assert sorted(postgres_rows(pg_database, "s")[1]) == [0, 1, 2, 4, 5]
    with psycopg.connect(pg_database) as conn:
        letters = conn.execute(
            'SELECT "offset", "error" FROM "s"."_strangler_dead_letters"'
        ).fetchall()
        offsets = conn.execute('SELECT "next_offset" FROM "s"."_strangler_offsets"').fetchall()
    assert [o for o, _ in letters] == [3] and "NUL" in letters[0][1]
    assert offsets == [(6,)]


def test_stop_policy_stops_on_a_refused_row(pg_database: str) -> None:
    events = [Event(k, {"name": "bad\x00" if k == 1 else "ok"}) for k in range(3)]
    config = view(pg_database, "s", on_bad_record="stop")
    applier = Applier(config, PostgresTarget(pg_database, "s"))
    with pytest.raises(ViewStopped, match="refused"):
        applier.apply(records(events, range(1, 4)))
    assert list(postgres_rows(pg_database, "s")[1]) == [0]


def _with_amount_type(amount: object, schema_id: int) -> WriterSchema:
    fields = [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": ["null", amount], "default": None},
    ]
    return WriterSchema(schema_id, {"type": "record", "name": "Value", "fields": fields})


def _record(offset: int, schema: WriterSchema, amount: object) -> ChangeRecord:
    base = records([Event(offset, {})], [offset + 1])[0]
    return ChangeRecord(
        base.topic, 0, offset, base.op, base.position, base.key,
        {"id": offset, "amount": amount}, base.key_schema, schema,
    )  # fmt: skip


def test_widening_alters_the_column_and_incompatible_stops(pg_database: str) -> None:
    applier = Applier(view(pg_database, "s"), PostgresTarget(pg_database, "s"))
    applier.apply([_record(0, _with_amount_type("int", 10), 5)])
    applier.apply([_record(1, _with_amount_type("long", 11), 2**40)])
    assert postgres_rows(pg_database, "s")[1] == {0: (5,), 1: (2**40,)}
    with pytest.raises(SchemaChangeError, match="not a widening"):
        applier.apply([_record(2, _with_amount_type("string", 12), "x")])
    assert applier.stored_offsets() == {(TOPIC, 0): 2}  # nothing of the batch applied


def test_deletes_probe_the_view_by_key_instead_of_scanning_it(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = PostgresTarget(pg_database, "s")
    applier = Applier(view(pg_database, "s"), target)
    applier.apply(records([Event(k, {"name": f"n{k}"}) for k in range(50_000)], range(1, 50_001)))
    plans: list[str] = []
    hash_joins: list[str] = []
    defer = target._defer

    def explained(statement: str) -> None:
        """Plan each deferred statement as it is deferred (its ``SET LOCAL``s run at once)."""
        if statement.startswith(("SET LOCAL", "RESET")):
            target.conn.execute(statement.encode())
        if "_strangler_stage" in statement and statement.startswith(("INSERT", "DELETE")):
            query = f"EXPLAIN {statement}".encode()
            plans.append("\n".join(r[0] for r in target.conn.execute(query)))
            hash_joins.append(str(target.conn.execute("SHOW enable_hashjoin").fetchone()))
        defer(statement)

    monkeypatch.setattr(target, "_defer", explained)
    deletes = [Event(k, None) for k in range(0, 400, 2)]
    upserts = [Event(k, {"name": "again"}) for k in range(1, 400, 2)]
    applier.apply(records([*deletes, *upserts], range(60_000, 60_400)))
    remember, delete, _upsert = plans
    for plan in (remember, delete):  # one index probe per staged delete, no scan of the view
        assert "Seq Scan on items" not in plan and "items_pkey" in plan, plan
    assert hash_joins == ["('off',)", "('off',)", "('on',)"]  # reset for the upsert
    rows = postgres_rows(pg_database, "s")[1]
    assert len(rows) == 50_000 - 200 and 0 not in rows and rows[1] == ("again", None)


def test_prepared_batches_apply_as_unprepared_ones(pg_database: str) -> None:
    """Staged ahead (as the runner does while the batch before is in the database): applied
    as is while the tables hold, staged again after a truncate it did not see."""
    applier = Applier(view(pg_database, "s"), PostgresTarget(pg_database, "s"))
    first = [Event(k, {"name": f"n{k}"}) for k in range(4)]
    applier.apply(records(first, range(1, 5)))
    second = [Event(1, {"name": "m1", "amount": 5}), Event(2), Event(7, {"name": "n7"})]
    batch = records(second, range(5, 8))
    prepared = applier.prepare(batch)
    assert prepared is not None
    applier.apply(batch, prepared)
    assert matches(postgres_rows(pg_database, "s"), replay([*first, *second]))
    late = records([Event(8, {"name": "older than the truncate"})], [9])
    prepared = applier.prepare(late)
    assert prepared is not None
    applier.apply(records([Event(None), Event(9, {"name": "n9"})], [10, 11]))
    applier.apply(late, prepared)
    assert sorted(postgres_rows(pg_database, "s")[1]) == [9]
