"""Where each part of a pipeline stands, read from outside the running process.

- PostgreSQL sources: the slot (``pg_replication_slots``: confirmed_flush_lsn, restart_lsn,
  active, bytes behind the current WAL), the snapshot progress file and the incremental
  snapshot requests in the source's state_dir;
- MySQL/MariaDB sources: the stored state (position and snapshot progress, file or Kafka
  offset store) and the bytes of binlog written after the stored file:pos;
- topics: end offsets per partition and the source commit time of each partition's last record;
- views: the offsets stored in the view database with the rows.

Every reader raises a ``StranglerError`` (``ServiceUnavailable`` for a service that does not
answer) rather than a driver's exception, so callers can show it as a row with its fix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strangler.core.errors import ServiceUnavailable
from strangler.core.events import TableId
from strangler.core.headers import COMMIT_TS_US, header_value

if TYPE_CHECKING:
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.core.kafka import KafkaSettings
    from strangler.materializers.config import ViewConfig

KAFKA_TIMEOUT_S = 5.0

_SLOT = """
SELECT s.active, s.confirmed_flush_lsn::text, s.restart_lsn::text,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint
FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = %s
"""


@dataclass(slots=True)
class SourcePosition:
    """One source's stream position and how far behind the database it is."""

    position: str | None = None
    """PostgreSQL: the slot's confirmed_flush_lsn; MySQL: the stored GTID@file:pos."""
    restart: str | None = None
    """PostgreSQL: the slot's restart_lsn (WAL kept from there on)."""
    lag_bytes: int | None = None
    retained_bytes: int | None = None
    active: bool | None = None
    """PostgreSQL: a connector is streaming from the slot now."""
    snapshot: dict[TableId, str] = field(default_factory=dict)
    """Per captured table: done, in progress (after key …), not started."""
    resnapshot: dict[TableId, str] = field(default_factory=dict)
    """Per table with an incremental snapshot request: its latest request's state."""


# ---- PostgreSQL -------------------------------------------------------------------------------


def postgres_position(source: PostgresSource) -> SourcePosition:
    """The slot and snapshot state of one PostgreSQL source."""
    import psycopg

    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.preflight import list_tables

    try:
        with connect(source.dsn.get_secret_value(), connect_timeout=3) as conn:
            row = conn.execute(_SLOT, (source.slot,)).fetchone()
            tables = source.tables.select(list_tables(conn))
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            f"PostgreSQL of source {source.name}: {exc}".strip(),
            fix="check the dsn's database and the server (pg_isready)",
        ) from exc
    out = SourcePosition()
    if row is not None:
        out.active, out.position, out.restart, out.lag_bytes, out.retained_bytes = row
    out.snapshot = _pg_snapshot(source, tables, slot_exists=row is not None)
    out.resnapshot = _requests(source)
    return out


def _pg_snapshot(
    source: PostgresSource, tables: Sequence[TableId], *, slot_exists: bool
) -> dict[TableId, str]:
    from strangler.connectors.postgres.progress import ProgressFile

    progress = ProgressFile(source.state_dir / f"{source.name}.snapshot.json").load()
    if progress is None or not slot_exists or progress.slot != source.slot:
        return {t: "not started" for t in tables}
    states = {}
    for table in tables:
        entry = progress.tables.get(table)
        states[table] = _snapshot_state(
            entry.done if entry else None, None if entry is None else entry.after
        )
    return states


def _snapshot_state(done: bool | None, after: Iterable[Any] | None) -> str:
    if done:
        return "done"
    if done is None:
        return "not started"
    if after is None:
        return "in progress"
    return f"in progress (after key {', '.join(str(v) for v in after)})"


def _requests(source: PostgresSource | MysqlSource) -> dict[TableId, str]:
    from strangler.connectors.resnapshot import RequestFile

    states: dict[TableId, str] = {}
    for request in RequestFile.of(source).load():  # oldest first: the latest one wins
        detail = f"{request.chunks} chunks, {request.rows} rows"
        states[request.table] = f"{request.state} ({detail})"
    return states


# ---- MySQL / MariaDB -------------------------------------------------------------------------


def mysql_position(source: MysqlSource, kafka: KafkaSettings) -> SourcePosition:
    """The stored position and snapshot state of one MySQL/MariaDB source."""
    from strangler.connectors.mysql.connector import offset_store
    from strangler.connectors.mysql.state import StateStore

    store = offset_store(source, kafka)
    try:
        state = StateStore(store).load()
    finally:
        store.close()
    out = SourcePosition()
    if state is None:
        return out
    out.position = state.position.encode()
    out.snapshot = {t: _snapshot_state(p.done, p.after) for t, p in state.tables.items()}
    out.resnapshot = _requests(source)
    if state.position.file is not None:
        out.lag_bytes = _binlog_behind(source, state.position.file.file, state.position.file.pos)
    return out


def _binlog_behind(source: MysqlSource, file: str, pos: int) -> int | None:
    """Bytes of binlog after ``file:pos`` (the files after it, whole, plus the rest of it)."""
    from strangler.connectors.mysql.connector import connect_server

    conn = connect_server(source.connection_settings(), timeout=3)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW BINARY LOGS")
            logs = [(str(r[0]), int(r[1])) for r in cursor.fetchall()]
    finally:
        conn.close()
    names = [name for name, _ in logs]
    if file not in names:
        return None
    after = logs[names.index(file) :]
    return max(sum(size for _, size in after) - pos, 0)


# ---- Kafka ------------------------------------------------------------------------------------


@dataclass(slots=True)
class TopicEnd:
    """One topic's end offset per partition, and its newest record's source commit time."""

    ends: dict[int, int] = field(default_factory=dict)
    last_commit_us: int | None = None
    exists: bool = True


def topic_ends(kafka: KafkaSettings, topics: Sequence[str]) -> dict[str, TopicEnd]:
    """End offsets and the newest commit time of ``topics`` (one consumer, no group)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from strangler.core.kafka import consumer_config

    group = f"strangler-status-{uuid.uuid4().hex[:8]}"  # never committed to
    consumer = Consumer(consumer_config(kafka, group, **{"enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(timeout=KAFKA_TIMEOUT_S)
        out: dict[str, TopicEnd] = {}
        lasts: list[TopicPartition] = []
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                out[topic] = TopicEnd(exists=False)
                continue
            out[topic] = TopicEnd()
            for partition in sorted(info.partitions):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=KAFKA_TIMEOUT_S
                )
                out[topic].ends[partition] = high
                if high > low:
                    lasts.append(TopicPartition(topic, partition, high - 1))
        _read_last_records(consumer, lasts, out)
        return out
    except KafkaException as exc:
        raise _kafka_down(kafka, exc) from exc
    finally:
        consumer.close()


def _read_last_records(consumer: Any, lasts: list[Any], out: dict[str, TopicEnd]) -> None:
    """The commit time header of each partition's last record (the newest wins per topic)."""
    if not lasts:
        return
    consumer.assign(lasts)
    waiting = {(tp.topic, tp.partition) for tp in lasts}
    deadline = time.monotonic() + KAFKA_TIMEOUT_S
    while waiting and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None or message.error() is not None:
            continue
        waiting.discard((message.topic(), message.partition()))
        text = header_value(message.headers(), COMMIT_TS_US)
        if text and text.isdigit():
            end = out[message.topic()]
            end.last_commit_us = max(end.last_commit_us or 0, int(text))


def _kafka_down(kafka: KafkaSettings, exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Kafka at {kafka.bootstrap_servers} did not answer: {exc}",
        fix="check that the brokers run and kafka.bootstrap_servers (strangler dev status)",
    )


def kafka_reachable(kafka: KafkaSettings) -> None:
    """Raise ``ServiceUnavailable`` unless a broker answers within a few seconds."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from strangler.core.kafka import base_config

    try:
        AdminClient(base_config(kafka)).list_topics(timeout=KAFKA_TIMEOUT_S)
    except KafkaException as exc:
        raise _kafka_down(kafka, exc) from exc


# ---- views ------------------------------------------------------------------------------------


def view_offsets(view: ViewConfig) -> dict[tuple[str, int], int] | None:
    """Next offset to apply per partition, as stored in the view (None: never started)."""
    from strangler.materializers.service import open_target

    sqlite = view.target.sqlite
    if sqlite is not None and not sqlite.path.exists():
        return None  # opening it would create it
    try:
        target = open_target(view)
    except Exception as exc:
        raise ServiceUnavailable(
            f"view {view.name}: its database cannot be opened: {exc}",
            fix="check the view's target (a PostgreSQL target's dsn and server)",
        ) from exc
    try:
        return dict(target.load_offsets(view.name))
    finally:
        target.close()


def behind(stored: Mapping[tuple[str, int], int] | None, topic: str, end: TopicEnd) -> int:
    """Records of ``topic`` the view has not applied yet."""
    return sum(max(high - (stored or {}).get((topic, p), 0), 0) for p, high in end.ends.items())
