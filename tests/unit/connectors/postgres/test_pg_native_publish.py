"""Encoded snapshot chunks are published like rows: the same records and headers, one
acknowledgement unit per chunk, recorded only after every record of it was acknowledged."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from strangler.connectors.acks import DeliveryFailed
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.native import EncodedChunk
from strangler.connectors.postgres.progress import ProgressFile, SnapshotProgress
from strangler.connectors.postgres.snapshotter import SnapshotSource
from strangler.connectors.publisher import Publisher
from strangler.connectors.snapshot_chunks import ChunkMark
from tests.unit.connectors.test_publisher_reads import SCHEMA, TABLE, Registrar

pytestmark = pytest.mark.unit


class Producer:
    """Keeps delivery callbacks until the test delivers them; full once every ``full`` calls."""

    def __init__(self, full: int = 0) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.callbacks: list[Any] = []
        self.full, self.calls = full, 0

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.calls += 1
        if self.full and self.calls % self.full == 0:
            raise BufferError
        self.callbacks.append(kwargs.pop("on_delivery"))
        self.records.append((topic, sorted(kwargs.items())))

    def deliver(self, count: int, error: Any = None) -> None:
        for callback in self.callbacks[:count]:
            callback(error, None)
        del self.callbacks[:count]

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def _publisher(producer: Producer) -> Publisher:
    serializer = FastTableSerializer(Registrar(), "ns")
    return Publisher(cast(Any, producer), serializer, lambda t: f"p.{t.name}", "pg_lsn")


ROWS = [{"id": i, "note": f"n{i}" if i % 2 else None} for i in range(5)]


def _encoded(publisher: Publisher) -> EncodedChunk:
    serializer, topic = publisher.serializer, publisher.topic_of(TABLE)
    keys = [serializer.key(topic, SCHEMA, r) for r in ROWS]
    values = [serializer.value(topic, SCHEMA, r) for r in ROWS]
    return EncodedChunk(keys, values)


def test_encoded_records_are_those_of_publish_reads_with_the_same_headers() -> None:
    by_rows, by_records = Producer(), Producer(full=3)  # a full queue is waited out
    mark = ChunkMark(1, TABLE, ("4",), False)
    _publisher(by_rows).publish_reads(TABLE, SCHEMA, ROWS, Lsn(7), mark)
    publisher = _publisher(by_records)
    chunk = _encoded(publisher)
    publisher.publish_encoded(TABLE, zip(chunk.keys, chunk.values, strict=True), Lsn(7), mark)
    assert by_records.records == by_rows.records and len(by_rows.records) == 5
    assert ("headers", [("op", b"r"), ("position", b"0/7"), ("position_kind", b"pg_lsn")]) in (
        by_records.records[0][1]
    )


def test_a_chunk_is_acknowledged_only_after_every_record() -> None:
    producer = Producer()
    publisher = _publisher(producer)
    chunk = _encoded(publisher)
    first, second = ChunkMark(1, TABLE, ("4",), False), ChunkMark(2, TABLE, ("4",), True)
    publisher.publish_encoded(TABLE, zip(chunk.keys, chunk.values, strict=True), Lsn(7), first)
    publisher.publish_encoded(TABLE, [], Lsn(7), second)
    producer.deliver(4)
    assert publisher.acknowledged() is None
    producer.deliver(1)
    assert publisher.acknowledged() == second


def test_a_failed_delivery_stops_the_tracker() -> None:
    producer = Producer()
    publisher = _publisher(producer)
    chunk = _encoded(publisher)
    mark = ChunkMark(1, TABLE, ("4",), False)
    publisher.publish_encoded(TABLE, zip(chunk.keys, chunk.values, strict=True), Lsn(7), mark)
    producer.deliver(4)
    producer.deliver(1, error="broker gone")
    with pytest.raises(DeliveryFailed):
        publisher.acknowledged()


def test_the_snapshot_records_an_encoded_chunk_once_kafka_has_all_of_it(tmp_path: Path) -> None:
    producer = Producer()
    publisher = _publisher(producer)
    progress = SnapshotProgress("s1", Lsn(1))
    snapshot = SnapshotSource(
        cast(Any, SimpleNamespace(position=Lsn(1))), cast(Any, None),
        cast(Any, SimpleNamespace(schemas={TABLE: SCHEMA})), publisher, progress,
        ProgressFile(tmp_path / "p.json"), threading.Event(),
    )  # fmt: skip
    snapshot._publish(_encoded(publisher), TABLE, ("4",), done=False)
    assert len(producer.records) == 5
    producer.deliver(4)
    snapshot._checkpoint(force=True)
    assert TABLE not in progress.tables
    producer.deliver(1)
    snapshot._checkpoint(force=True)
    assert progress.tables[TABLE].after == ("4",)
