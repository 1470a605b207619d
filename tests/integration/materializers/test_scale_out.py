"""Scale-out: two materializer processes (threads here, each with its own consumer and
connection) in one consumer group share a PostgreSQL view; offsets are per partition in the
target, and the view equals the replay."""

from __future__ import annotations

import random
import threading

import pytest

from strangler.core.kafka import KafkaSettings
from strangler.materializers.freshness import Freshness
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.runner import ViewRunner
from strangler.materializers.schemas import StaticSchemas
from tests.integration.materializers.views import matches, postgres_rows, view_config
from tests.integration.materializers.workload import (
    SCHEMAS,
    Publisher,
    create_topic,
    random_events,
)

pytestmark = pytest.mark.integration


def test_two_members_share_one_postgres_view(
    kafka_bootstrap: str, topic_name: str, pg_database: str
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    create_topic(kafka_bootstrap, topic_name, 4)
    publisher = Publisher(settings, topic_name, 4)
    view = view_config("so", topic_name, {"postgres": {"dsn": pg_database, "schema": "v"}})
    runners = [
        ViewRunner(view, settings, StaticSchemas(SCHEMAS), PostgresTarget(pg_database, "v"))
        for _ in range(2)
    ]
    threads = [threading.Thread(target=r.run) for r in runners]
    for thread in threads:
        thread.start()
    fresh = Freshness(view, settings, PostgresTarget(pg_database, "v"))
    try:
        for runner in runners:  # the second to join makes the group share the partitions
            assert runner.assigned.wait(60), "a member got no partitions"
        rng = random.Random(21)
        for _ in range(6):
            publisher.publish(random_events(rng, 400, 200))
        fresh.wait_for(f"0/{len(publisher.published):X}", timeout_s=60)
        assert matches(postgres_rows(pg_database, "v"), publisher.expected())
        served = [set(r.lag_tracker.last_commit_us) for r in runners]
        assert all(served), f"both members applied partitions: {served}"
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(30)
        fresh.close()
