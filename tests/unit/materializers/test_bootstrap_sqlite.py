"""Bootstrap into an empty SQLite view: the bulk path (plain inserts while every key is new)
ends exactly where a sequential replay ends, with duplicates, deletes and truncates in the log,
and gives way to upserts at the first key already in the table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings

from strangler.materializers.applier import Applier
from strangler.materializers.sqlite_target import SqliteTarget
from tests.unit.materializers.changelog import Event, normalise, records, replay
from tests.unit.materializers.crashes import events_strategy
from tests.unit.materializers.republished import (
    apply_in_batches,
    bulk_batches_strategy,
    replayed_strategy,
    republished,
)
from tests.unit.materializers.test_applier_sqlite import table, view_config
from tests.unit.materializers.test_property_sqlite import read_view

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("STRANGLER_PROPERTY_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(events_strategy, replayed_strategy, bulk_batches_strategy)
def test_bootstrap_with_duplicates_deletes_and_truncates_equals_replay(
    tmp_path_factory: pytest.TempPathFactory,
    events: Sequence[Event],
    replayed: int,
    batch_sizes: list[int],
) -> None:
    db = tmp_path_factory.mktemp("boot") / "view.db"
    target = SqliteTarget(db)
    apply_in_batches(Applier(view_config(db), target), republished(events, replayed), batch_sizes)
    target.close()
    columns, rows = read_view(db)
    assert rows == normalise(replay(events), columns)


def test_bulk_insert_of_a_deleted_key_keeps_the_guard(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    target = SqliteTarget(db)
    applier = Applier(view_config(db), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    applier.apply(records([Event(1)], [3]))
    applier.apply(records([Event(1, {"name": "a"}), Event(4, {"name": "d"})], [1, 4]))
    assert target._inserting == {}  # only new keys: inserted, not upserted
    assert table(db)[1] == {2: ("b", None), 4: ("d", None)}  # key 1 stays deleted


def test_bulk_inserts_until_a_key_is_already_there(tmp_path: Path) -> None:
    db = tmp_path / "view.db"
    target = SqliteTarget(db)
    applier = Applier(view_config(db), target)
    applier.apply(records([Event(1, {"name": "a"}), Event(2, {"name": "b"})], [1, 2]))
    assert target._inserting == {}  # the bulk insert went through
    applier.apply(records([Event(3, {"name": "c"}), Event(1, {"name": "a2"})], [3, 4]))
    assert target._inserting == {"items": False}  # key 1 was there: undone, then upserted
    applier.apply(records([Event(None), Event(5, {"name": "e"})], [5, 6]))
    assert target._inserting == {}  # a truncate emptied the table: bulk again
    assert table(db)[1] == {5: ("e", None)}
    applier.apply(records([Event(5, {"name": "old"})], [2]))  # a late duplicate never wins
    assert table(db)[1] == {5: ("e", None)}
