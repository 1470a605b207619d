"""Property: random changelogs applied to a real PostgreSQL schema, with the applier killed at
random points (its connection dropped mid-transaction) and restarted from the stored offsets,
always leave the view a sequential replay of the log leaves."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from strangler.materializers.config import ViewConfig
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.tables import POSITION_COLUMN
from tests.unit.materializers.changelog import TOPIC, Event, normalise, replay
from tests.unit.materializers.crashes import (
    apply_with_crashes,
    batches_strategy,
    crashes_strategy,
    events_strategy,
    steps_strategy,
)

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("STRANGLER_PROPERTY_EXAMPLES", "30"))


def read_view(dsn: str, schema: str) -> tuple[list[str], dict[int, tuple[object, ...]]]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'items'",
            [schema],
        ).fetchone()
        if found is None:
            return [], {}
        cur = conn.execute(f'SELECT * FROM "{schema}"."items"'.encode())
        names = [d.name for d in cur.description or ()]
        keep = [i for i, n in enumerate(names) if n not in ("id", POSITION_COLUMN)]
        rows = {r[0]: tuple(r[i] for i in keep) for r in cur.fetchall()}
    return [names[i] for i in keep], rows


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(events_strategy, steps_strategy, batches_strategy, crashes_strategy)
def test_view_equals_sequential_replay_despite_crashes(
    pg_database: str,
    events: Sequence[Event],
    steps: list[int],
    batch_sizes: list[int],
    crash_at: frozenset[int],
) -> None:
    schema = f"v_{uuid.uuid4().hex[:10]}"
    view = ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"postgres": {"dsn": pg_database, "schema": schema}},
            "topics": [{"topic": TOPIC, "table": "items"}],
        }
    )
    apply_with_crashes(
        view, lambda: PostgresTarget(pg_database, schema), events, steps, batch_sizes, crash_at
    )
    columns, rows = read_view(pg_database, schema)
    assert rows == normalise(replay(events), columns)
