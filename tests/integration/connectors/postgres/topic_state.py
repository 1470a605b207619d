"""Helpers for connector tests: run the connector, read a compacted topic back as a table, read
the source table the same way, and compare row by row.

A topic is replayed from the beginning the way a consumer would: Confluent's AvroDeserializer
with the subject's latest value schema as the reader schema; later records win per key,
tombstones delete, a truncate marker (header op=t) clears every row before it.
"""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import fastavro
import psycopg
import pytest
from pydantic import SecretStr

from strangler.connectors.config import SnapshotSettings, TableSelection
from strangler.connectors.postgres.catalog import not_null_columns
from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.connector import PostgresConnector, connect
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.connectors.postgres.rows import table_schema
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings
from strangler.core.schema import value_record
from strangler.schema_registry.config import RegistrySettings
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.sqlite_storage import SqliteStorage
from tests.support.running import RunningConnector
from tests.support.topics import (
    Rows,
    assert_same_rows,
    canonical,
    latest_value_schema,
    topic_rows,
)


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    """Our registry, in process, on a free port."""
    # looked up by name: the registry's server module is being reshaped (build_app ->
    # build_instance); either works
    server_module = importlib.import_module("strangler.schema_registry.server")
    settings = RegistrySettings(port=0, sqlite_path=tmp_path / "schemas.db")
    build_instance = getattr(server_module, "build_instance", None)
    if build_instance is not None:
        instance = build_instance(settings)
        app, close = instance.app, instance.close
    else:
        registry = SchemaRegistry(SqliteStorage(settings.sqlite_path))
        app, close = server_module.build_app(settings, registry), registry.close
    server = server_module.ServerThread(app).start()
    yield str(server.url)
    server.stop()
    close()


def make_source(dsn: str, state_dir: Path, prefix: str, **overrides: Any) -> PostgresSource:
    """A source over every table of ``public`` (unless ``tables`` is given)."""
    values: dict[str, Any] = {
        "name": "pg",
        "dsn": SecretStr(dsn),
        "slot": "strangler_" + prefix.replace("-", "_")[-40:],
        "publication": "strangler_pub",
        "topic_prefix": prefix,
        "tables": TableSelection(include=["public.*"]),
        "snapshot": SnapshotSettings(chunk_rows=500),
        "state_dir": state_dir,
        "status_interval_s": 0.2,
        "heartbeat_interval_s": 1.0,
        **overrides,
    }
    return PostgresSource.model_validate(values)


class Running(RunningConnector):
    """A connector in a thread of its own."""

    def __init__(self, source: PostgresSource, bootstrap: str, registry: str) -> None:
        stop = threading.Event()
        kafka = KafkaSettings(bootstrap_servers=bootstrap, partitions=2, replication_factor=1)
        self.connector = PostgresConnector(source, kafka, HttpRegistrar(registry), stop)
        super().__init__(self.connector, stop)


def current_lsn(dsn: str) -> Lsn:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return Lsn.parse(row[0])


def confirmed_lsn(dsn: str, slot: str) -> Lsn | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    return None if row is None or row[0] is None else Lsn.parse(row[0])


def wait_caught_up(dsn: str, slot: str, timeout: float = 60, running: Running | None = None) -> Lsn:
    """Wait until the slot confirmed everything written so far (so Kafka has it all), after the
    snapshot (the slot may be created after the last write: then it confirms it at once)."""
    target = current_lsn(dsn)
    deadline = time.monotonic() + timeout
    while running is not None and not running.connector.streaming.wait(0.1):
        if running.error is not None:
            raise running.error
        assert time.monotonic() < deadline, "the connector did not start streaming"
    while time.monotonic() < deadline:
        if running is not None and running.error is not None:
            raise running.error
        confirmed = confirmed_lsn(dsn, slot)
        if confirmed is not None and confirmed >= target:
            return confirmed
        time.sleep(0.1)
    raise AssertionError(f"slot {slot} did not reach {target} (at {confirmed_lsn(dsn, slot)})")


def table_rows(
    dsn: str, table: TableId, registry: str, prefix: str, key: Sequence[str] | None = None
) -> Rows:
    """The table now, through the connector's own decoding, as the latest value schema reads
    it (Avro round trip), keyed like ``topic_rows``."""
    reader_schema = fastavro.parse_schema(
        json.loads(latest_value_schema(registry, f"{table_topic(prefix, table)}-value"))
    )
    rows: Rows = {}
    with connect(dsn) as conn, SnapshotReader(conn, None, Lsn(0), chunk_rows=100_000) as reader:
        relation = reader.describe(table, key)
        schema = table_schema(
            relation, reader.catalog, not_null=not_null_columns(conn, relation.oid), key=key
        )
        for chunk in reader.read(relation):
            for event in chunk:
                assert event.after is not None and event.key is not None
                record = value_record(schema, event.after)
                out = io.BytesIO()
                fastavro.schemaless_writer(out, reader_schema, record)
                out.seek(0)
                key_record = {schema.field_names[k]: event.key[k] for k in schema.key}
                value: Any = fastavro.schemaless_reader(out, reader_schema, None)
                rows[canonical(key_record)] = value
    return rows


def assert_topics_equal_tables(
    dsn: str,
    bootstrap: str,
    registry: str,
    prefix: str,
    tables: list[TableId],
    keys: Mapping[TableId, Sequence[str]] | None = None,
) -> None:
    for table in tables:
        want = table_rows(dsn, table, registry, prefix, (keys or {}).get(table))
        got = topic_rows(bootstrap, registry, table_topic(prefix, table))
        assert_same_rows(table, want, got)
