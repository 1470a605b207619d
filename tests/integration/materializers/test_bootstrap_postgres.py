"""Bootstrap into an empty PostgreSQL view: the bulk path (COPY straight into the table while
every key is new and none was deleted) ends exactly where a sequential replay ends, with
duplicates, deletes and truncates in the log."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings

from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.postgres_target import PostgresTarget
from tests.integration.materializers.test_property_postgres import read_view
from tests.unit.materializers.changelog import TOPIC, Event, normalise, records, replay
from tests.unit.materializers.crashes import events_strategy
from tests.unit.materializers.republished import (
    apply_in_batches,
    bulk_batches_strategy,
    replayed_strategy,
    republished,
)

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("STRANGLER_PROPERTY_EXAMPLES", "30"))


def _view(dsn: str, schema: str) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": "v",
            "target": {"postgres": {"dsn": dsn, "schema": schema}},
            "topics": [{"topic": TOPIC, "table": "items"}],
        }
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(events_strategy, replayed_strategy, bulk_batches_strategy)
def test_bootstrap_with_duplicates_deletes_and_truncates_equals_replay(
    pg_database: str, events: Sequence[Event], replayed: int, batch_sizes: list[int]
) -> None:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    target = PostgresTarget(pg_database, schema)
    try:
        applier = Applier(_view(pg_database, schema), target)
        apply_in_batches(applier, republished(events, replayed), batch_sizes)
    finally:
        target.close()
    columns, rows = read_view(pg_database, schema)
    assert rows == normalise(replay(events), columns)


def test_a_deleted_key_turns_copy_off(pg_database: str) -> None:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    target = PostgresTarget(pg_database, schema)
    applier = Applier(_view(pg_database, schema), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    applier.apply(records([Event(1)], [3]))
    applier.apply(records([Event(1, {"name": "a"}), Event(4, {"name": "d"})], [1, 4]))
    target.close()
    assert read_view(pg_database, schema)[1] == {2: ("b", None), 4: ("d", None)}


def test_copy_until_a_key_is_already_there(pg_database: str) -> None:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    target = PostgresTarget(pg_database, schema)
    applier = Applier(_view(pg_database, schema), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    assert target._copying == {}  # copied straight into the table
    applier.apply(records([Event(3, {"name": "c"}), Event(1, {"name": "a2"})], [3, 4]))
    assert target._copying == {"items": False}  # key 1 was there: undone, then upserted
    applier.apply(records([Event(None), Event(5, {"name": "e"})], [5, 6]))
    assert target._copying == {}
    applier.apply(records([Event(5, {"name": "old"})], [2]))  # a late duplicate never wins
    target.close()
    assert read_view(pg_database, schema)[1] == {5: ("e", None)}
