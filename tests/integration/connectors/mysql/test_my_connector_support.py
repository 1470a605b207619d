"""Helpers of the MySQL connector's tests (no tests here): run the connector in a thread,
wait until it stored the server's position, read a compacted topic back as a table and the
table the same way, and compare them row by row.

A topic is replayed from the beginning the way a consumer would: Confluent's AvroDeserializer
with the subject's latest value schema as the reader schema; later records win per key,
tombstones delete, a truncate marker (header op=t) clears the rows of its partition before it.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import fastavro
from pydantic import SecretStr

from strangler.connectors.config import SnapshotSettings, TableSelection
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.mysql.connector import MysqlConnector
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.connectors.offsets import FileOffsetStore
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings
from strangler.core.schema import value_record
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import position_now, reader_id, settings
from tests.support.running import RunningConnector
from tests.support.topics import (
    Rows,
    assert_same_rows,
    canonical,
    latest_value_schema,
    topic_rows,
)


def make_source(db: MysqlDatabase, state_dir: Path, prefix: str, **overrides: Any) -> MysqlSource:
    """A source over every table of the test's database (unless ``tables`` is given)."""
    values: dict[str, Any] = {
        "name": "my",
        "url": SecretStr(db.url),
        "server_id": reader_id(),
        "topic_prefix": prefix,
        "tables": TableSelection(include=[f"{db.name}.*"]),
        "snapshot": SnapshotSettings(chunk_rows=500),
        "state_dir": state_dir,
        "store_interval_s": 0.1,
        **overrides,
    }
    return MysqlSource.model_validate(values)


def kafka_settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap, partitions=2, replication_factor=1)


class Running(RunningConnector):
    """A connector in a thread of its own."""

    def __init__(self, source: MysqlSource, bootstrap: str, registry: str) -> None:
        stop = threading.Event()
        self.source = source
        self.registrar = HttpRegistrar(registry)
        self.connector = MysqlConnector(source, kafka_settings(bootstrap), self.registrar, stop)
        super().__init__(self.connector, stop, self.registrar.close)


def stored_position(source: MysqlSource) -> BinlogPosition | None:
    data = FileOffsetStore(source.state_dir / f"{source.name}.offsets.json").load()
    return None if data is None else BinlogPosition.parse(data["position"])


def reached(stored: BinlogPosition, target: BinlogPosition) -> bool:
    """``stored`` is at or after ``target`` (GTID positions of one MariaDB server)."""
    assert target.gtids is not None
    return stored.gtids is not None and target.gtids <= stored.gtids


def wait_caught_up(
    db: MysqlDatabase, running: Running, timeout: float = 60
) -> BinlogPosition | None:
    """Wait until the snapshot is complete and the connector stored a position at or after
    the server's position now (then Kafka acknowledged everything written before this call;
    during a snapshot the stored position is where streaming will start, not what Kafka has)."""
    target = position_now(db)
    deadline = time.monotonic() + timeout
    while not running.connector.streaming.wait(0.1):
        if running.error is not None:
            raise running.error
        assert time.monotonic() < deadline, "the connector did not start streaming"
    while time.monotonic() < deadline:
        if running.error is not None:
            raise running.error
        stored = stored_position(running.source)
        if stored is not None and reached(stored, target):
            return stored
        time.sleep(0.1)
    raise AssertionError(f"stored position did not reach {target}")


def table_rows(
    db: MysqlDatabase,
    table: TableId,
    registry: str,
    prefix: str,
    key: Sequence[str] | None = None,
    excluded: Sequence[str] = (),
) -> Rows:
    """The table now, through the connector's own decoding, as the latest value schema reads
    it (Avro round trip), keyed like ``topic_rows``."""
    reader_schema = fastavro.parse_schema(
        json.loads(latest_value_schema(registry, f"{table_topic(prefix, table)}-value"))
    )
    rows: Rows = {}
    with SnapshotReader(settings(db), chunk_rows=100_000) as reader:
        codec = reader.describe(table, list(key) if key else None)
        for chunk in reader.read(codec):
            for event in chunk.events:
                assert event.after is not None
                after = {k: v for k, v in event.after.items() if k not in excluded}
                out = io.BytesIO()
                fastavro.schemaless_writer(out, reader_schema, value_record(codec.schema, after))
                out.seek(0)
                key_record = {codec.schema.field_names[k]: after[k] for k in codec.schema.key}
                value: Any = fastavro.schemaless_reader(out, reader_schema, None)
                rows[canonical(key_record)] = value
    return rows


def assert_topics_equal_tables(
    db: MysqlDatabase,
    bootstrap: str,
    registry: str,
    prefix: str,
    tables: list[TableId],
    keys: Mapping[TableId, Sequence[str]] | None = None,
    excluded: Mapping[TableId, Sequence[str]] | None = None,
) -> None:
    for table in tables:
        want = table_rows(
            db, table, registry, prefix, (keys or {}).get(table), (excluded or {}).get(table, ())
        )
        got = topic_rows(bootstrap, registry, table_topic(prefix, table))
        assert_same_rows(table, want, got)
