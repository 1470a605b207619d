"""Read-your-writes and lag on real Kafka: wait_for returns once the view has applied a
source position (and times out while the materializer is stopped)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from strangler.core.kafka import KafkaSettings
from strangler.materializers.freshness import Freshness, NotYetApplied
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
from tests.unit.materializers.changelog import Event

pytestmark = pytest.mark.integration


def test_read_your_writes_and_lag(kafka_bootstrap: str, topic_name: str, tmp_path: Path) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    create_topic(kafka_bootstrap, topic_name, 3)
    publisher = Publisher(settings, topic_name, 3)
    publisher.publish(random_events(random.Random(9), 300, 50))
    db = tmp_path / "view.db"
    view = view_config("ryw", topic_name, {"sqlite": {"path": str(db)}})
    fresh = Freshness(view, settings, SqliteTarget(db))
    position = f"0/{len(publisher.published):X}"
    with pytest.raises(NotYetApplied):
        fresh.wait_for(position, timeout_s=0.5)  # nothing runs yet
    assert sum(lag.records for lag in fresh.offset_lag().values()) == publisher.records_sent
    runner = ViewRunner(view, settings, StaticSchemas(SCHEMAS), SqliteTarget(db))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        fresh.wait_for(position, timeout_s=30)
        assert matches(sqlite_rows(db), publisher.expected())
        publisher.publish([Event(7, {"name": "mine"})])  # one partition moves, two stay idle
        fresh.wait_for(f"0/{len(publisher.published):X}", timeout_s=10)
        assert sqlite_rows(db)[1][7][0] == "mine"
        time.sleep(1.5)  # the loop measures lag once a second
        lags = runner.lag()
        assert lags and all(lag.records == 0 for lag in lags.values()), lags
        assert any(lag.seconds is not None and lag.seconds < 30 for lag in lags.values())
    finally:
        runner.stop()
        thread.join(30)
        fresh.close()
