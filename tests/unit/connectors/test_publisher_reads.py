"""publish_reads writes exactly the records publish writes for the same snapshot reads."""

from __future__ import annotations

from typing import Any, cast

import pytest

from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.publisher import Publisher
from strangler.connectors.snapshot_chunks import ChunkMark
from strangler.core import avro
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.schema import Column, TableSchema

pytestmark = pytest.mark.unit

TABLE = TableId("shop", "orders")
SCHEMA = TableSchema(
    TABLE, (Column("id", avro.LONG, nullable=False), Column("note", avro.STRING)), key=("id",)
)


class Registrar:
    def register(self, subject: str, schema: Any) -> int:
        return 5


class Producer:
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.callbacks: list[Any] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.callbacks.append(kwargs.pop("on_delivery"))
        self.records.append((topic, sorted(kwargs.items())))

    def poll(self, timeout: float) -> int:
        for callback in self.callbacks:
            callback(None, None)
        self.callbacks.clear()
        return 0


def _publisher(producer: Producer) -> Publisher:
    serializer = FastTableSerializer(Registrar(), "ns")
    return Publisher(cast(Any, producer), serializer, lambda t: f"p.{t.name}", "pg_lsn")


def test_publish_reads_writes_the_records_of_publish_and_is_acknowledged() -> None:
    # the excluded column (secret) is in the rows but not in the schema: written by neither
    rows = [{"id": i, "note": f"n{i}" if i % 2 else None, "secret": "x"} for i in range(5)]
    events = [ChangeEvent(TABLE, Op.READ, {"id": r["id"]}, None, r, Lsn(7)) for r in rows]
    by_events, by_rows = Producer(), Producer()
    _publisher(by_events).publish(events, {TABLE: SCHEMA}, ChunkMark(1, TABLE, ("4",), False))
    reads = _publisher(by_rows)
    reads.publish_reads(TABLE, SCHEMA, rows, Lsn(7), ChunkMark(1, TABLE, ("4",), False))
    assert by_rows.records == by_events.records and len(by_rows.records) == 5
    assert ("headers", [("op", b"r"), ("position", b"0/7"), ("position_kind", b"pg_lsn")]) in (
        by_rows.records[0][1]
    )  # the source position, never the chunk mark
    assert reads.acknowledged() == ChunkMark(1, TABLE, ("4",), False)  # five callbacks served
