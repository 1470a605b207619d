"""kill -9 of a materializer process at random points, at least 20 times, while a workload is
being published; after a final run both views (SQLite and PostgreSQL) equal the replay of the
log, with no duplicates and offsets at the end of every partition."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from strangler.core.kafka import KafkaSettings
from strangler.materializers.postgres_target import PostgresTarget
from strangler.materializers.sqlite_target import SqliteTarget
from tests.integration.materializers.views import matches, postgres_rows, sqlite_rows
from tests.integration.materializers.workload import Publisher, create_topic, random_events

pytestmark = pytest.mark.integration

KILLS = int(os.environ.get("STRANGLER_KILLS", "20"))
SCRIPT = Path(__file__).with_name("view_process.py")


def config(kafka: str, topic: str, db: Path, dsn: str) -> dict[str, object]:
    # static membership: a restarted process takes its predecessor's partitions at once
    consumer = {"session.timeout.ms": 6000}

    def view(name: str, target: dict[str, object]) -> dict[str, object]:
        return {
            "name": f"{name}-{topic}",
            "target": target,
            "topics": [{"topic": topic, "table": "items"}],
            "batch_size": 300,
            "batch_timeout_ms": 50,
            "consumer": {**consumer, "group.instance.id": f"{name}-{topic}"},
        }

    return {
        "kafka": {"bootstrap_servers": kafka},
        "registry_url": "http://127.0.0.1:1",  # unused: the process gets a fixed schema map
        "views": [
            view("lite", {"sqlite": {"path": str(db)}}),
            view("pg", {"postgres": {"dsn": dsn, "schema": "v"}}),
        ],
    }


def applied(db: Path, view: str) -> int:
    if not db.exists():
        return 0
    target = SqliteTarget(db)
    try:
        return sum(target.load_offsets(view).values())
    finally:
        target.close()


def publish_in_background(publisher: Publisher, rounds: int) -> threading.Thread:
    rng = random.Random(11)

    def work() -> None:
        for _ in range(rounds):
            publisher.publish(random_events(rng, 200, 150))
            time.sleep(1.0)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_kill_nine_at_random_points_then_restart(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, pg_database: str
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    create_topic(kafka_bootstrap, topic_name, 3)
    publisher = Publisher(settings, topic_name, 3)
    db = tmp_path / "view.db"
    cfg = config(kafka_bootstrap, topic_name, db, pg_database)
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg))
    feeder = publish_in_background(publisher, rounds=KILLS * 2)
    rng = random.Random(5)
    progress = []
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(SCRIPT), str(cfg_file)])
        time.sleep(rng.uniform(1.0, 3.5))
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        progress.append(applied(db, f"lite-{topic_name}"))
    feeder.join(120)
    print("records applied when killed:", progress)
    moved = sum(1 for a, b in itertools.pairwise(progress) if b > a)
    assert moved >= KILLS // 2, f"the killed processes made too little progress: {progress}"
    cfg_file.write_text(json.dumps({**cfg, "idle_exit_s": 4}))
    final = subprocess.run([sys.executable, str(SCRIPT), str(cfg_file)], timeout=300)
    assert final.returncode == 0
    expected = publisher.expected()
    assert matches(sqlite_rows(db), expected)
    assert matches(postgres_rows(pg_database, "v"), expected)
    offsets = SqliteTarget(db).load_offsets(f"lite-{topic_name}")
    assert sum(offsets.values()) == publisher.records_sent


def test_sigterm_stops_gracefully_after_the_current_batch(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path, pg_database: str
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    create_topic(kafka_bootstrap, topic_name, 3)
    publisher = Publisher(settings, topic_name, 3)
    publisher.publish(random_events(random.Random(2), 2000, 300))
    db = tmp_path / "view.db"
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(config(kafka_bootstrap, topic_name, db, pg_database)))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(cfg_file)])
    deadline = time.monotonic() + 60
    pg = PostgresTarget(pg_database, "v")
    while (
        applied(db, f"lite-{topic_name}") < publisher.records_sent
        or sum(pg.load_offsets(f"pg-{topic_name}").values()) < publisher.records_sent
    ):
        assert time.monotonic() < deadline, "the views did not catch up"
        time.sleep(0.2)
    pg.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0  # left the group, closed the databases, exited cleanly
    assert matches(sqlite_rows(db), publisher.expected())
    assert matches(postgres_rows(pg_database, "v"), publisher.expected())
