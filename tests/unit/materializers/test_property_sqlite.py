"""Property: random upserts, deletes, truncates and schema changes, applied in random batches
to a real SQLite file with the applier killed at random points and restarted from the stored
offsets, always leave the view a sequential replay of the log leaves."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings

from strangler.materializers.config import ViewConfig
from strangler.materializers.sqlite_target import SqliteTarget
from strangler.materializers.tables import POSITION_COLUMN
from tests.unit.materializers.changelog import TOPIC, Event, normalise, replay
from tests.unit.materializers.crashes import (
    apply_with_crashes,
    batches_strategy,
    crashes_strategy,
    events_strategy,
    steps_strategy,
)

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("STRANGLER_PROPERTY_EXAMPLES", "60"))


def read_view(path: Path) -> tuple[list[str], dict[int, tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        cur = conn.execute('SELECT * FROM "items"')
    except sqlite3.OperationalError:
        return [], {}  # the log held only truncates: no table was ever needed
    names = [d[0] for d in cur.description]
    keep = [i for i, n in enumerate(names) if n not in ("id", POSITION_COLUMN)]
    rows = {r[0]: tuple(r[i] for i in keep) for r in cur.fetchall()}
    conn.close()
    return [names[i] for i in keep], rows


@settings(max_examples=EXAMPLES, deadline=None)
@given(events_strategy, steps_strategy, batches_strategy, crashes_strategy)
def test_view_equals_sequential_replay_despite_crashes(
    events: Sequence[Event], steps: list[int], batch_sizes: list[int], crash_at: frozenset[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "view.db"
        view = ViewConfig.model_validate(
            {
                "name": "v",
                "target": {"sqlite": {"path": str(db)}},
                "topics": [{"topic": TOPIC, "table": "items"}],
            }
        )
        apply_with_crashes(view, lambda: SqliteTarget(db), events, steps, batch_sizes, crash_at)
        columns, rows = read_view(db)
        assert rows == normalise(replay(events), columns)
