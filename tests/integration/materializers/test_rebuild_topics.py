"""A rebuild after the view's topic was changed in the pipeline file (same view name, a new
topic) finishes and holds the new topic's rows; a rebuild that cannot catch up with the live
view says so instead of looping; catch-up reports its progress."""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path

import pytest

from strangler.core.kafka import KafkaSettings
from strangler.materializers import rebuild
from strangler.materializers.errors import MaterializerError
from strangler.materializers.rebuild import Rebuild
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.sqlite_target import SqliteTarget
from tests.integration.materializers.views import matches, sqlite_rows, view_config
from tests.integration.materializers.workload import (
    SCHEMAS,
    Publisher,
    create_topic,
    random_events,
)

pytestmark = pytest.mark.integration


def _publisher(settings: KafkaSettings, topic: str, seed: int, count: int) -> Publisher:
    create_topic(settings.bootstrap_servers, topic, 2)
    publisher = Publisher(settings, topic, 2)
    publisher.publish(random_events(random.Random(seed), count, 60))
    return publisher


def test_rebuild_onto_a_new_topic_finishes_and_forgets_the_old_one(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    old = _publisher(settings, f"{topic_name}.a", 11, 300)
    new = _publisher(settings, f"{topic_name}.b", 12, 200)
    db = tmp_path / "view.db"
    target = {"sqlite": {"path": str(db)}}
    on_old = view_config("moved", old.topic, target)
    ViewRunner(on_old, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=2)
    assert matches(sqlite_rows(db), old.expected())

    on_new = view_config("moved", new.topic, target)
    caplog.set_level(logging.INFO, logger=rebuild.__name__)
    Rebuild(on_new, settings, StaticSchemas(SCHEMAS), SqliteTarget(db), stall_timeout_s=30).run()

    assert matches(sqlite_rows(db), new.expected())
    assert "rebuilt and swapped in" in caplog.text
    offsets = SqliteTarget(db).load_offsets("moved")
    assert {topic for topic, _ in offsets} == {new.topic}  # the old topic's offsets are gone
    with sqlite3.connect(db) as conn:
        shapes = conn.execute("SELECT * FROM _strangler_tables").fetchall()
    assert not [s for s in shapes if old.topic in s]
    new.publish(random_events(random.Random(13), 50, 60))  # the view goes on from there
    ViewRunner(on_new, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=2)
    assert matches(sqlite_rows(db), new.expected())


def test_a_rebuild_that_cannot_catch_up_says_so_and_reports_progress(
    kafka_bootstrap: str,
    topic_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    publisher = _publisher(settings, topic_name, 21, 100)
    db = tmp_path / "view.db"
    view = view_config("ahead", publisher.topic, {"sqlite": {"path": str(db)}})
    ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db)).run(idle_exit_s=2)
    target = SqliteTarget(db)  # the live view is past the end (the topic was recreated)
    target.begin()
    target.save_offsets("ahead", {(publisher.topic, 0): 10**6})
    target.commit()
    monkeypatch.setattr(rebuild, "PROGRESS_INTERVAL_S", 0.0)
    caplog.set_level(logging.INFO, logger=rebuild.__name__)

    with pytest.raises(MaterializerError) as raised:
        Rebuild(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db), stall_timeout_s=2).run()

    assert "made no progress for 2 s" in str(raised.value)
    assert f"{publisher.topic}[0]" in str(raised.value) and raised.value.fix
    assert "records applied; still reading" in caplog.text
