"""Where each part of a pipeline stands, read from outside the running process, without
changing anything (no topic, slot or file is created here). ``strangler status``, ``offsets``,
``teardown`` and ``doctor`` all read through this module.

- PostgreSQL sources: the slot (``pg_replication_slots``: confirmed_flush_lsn, restart_lsn,
  active, bytes behind the current WAL), the snapshot progress file and the incremental
  snapshot requests in the source's state_dir;
- MySQL/MariaDB sources: the stored state (position and snapshot progress, file or Kafka
  offset store) and the bytes of binlog written after the stored file:pos;
- topics: end offsets per partition and the source commit time of each partition's last record;
- views: the offsets (and last applied source positions) stored in the view database with the
  rows.

Every reader raises a ``StranglerError`` (``ServiceUnavailable`` for a service that does not
answer) rather than a driver's exception, so callers can show it as a row with its fix.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from strangler.cli.services import TIMEOUT_S
from strangler.core.errors import ServiceUnavailable
from strangler.core.events import TableId
from strangler.core.headers import COMMIT_TS_US, header_value

if TYPE_CHECKING:
    from pathlib import Path

    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.mysql.state import SourceState
    from strangler.connectors.offsets import OffsetStore
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.connectors.postgres.progress import ProgressFile
    from strangler.core.kafka import KafkaSettings
    from strangler.materializers.config import ViewConfig
    from strangler.materializers.positions import PositionKind
    from strangler.materializers.target import Target

    AnySource = PostgresSource | MysqlSource

KAFKA_TIMEOUT_S = 5.0

_SLOT = """
SELECT s.active, s.confirmed_flush_lsn::text, s.restart_lsn::text,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint
FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = %s
"""


@dataclass(slots=True)
class SourcePosition:
    """Where one source resumes, how far its snapshots got, and how far behind the database
    it is."""

    source: str
    type: str
    store: str
    """Where the position is kept: the slot, or the MySQL offset store (file or topic)."""
    position: str | None = None
    """PostgreSQL: the slot's confirmed_flush_lsn; MySQL: the stored ``gtids@file:pos``."""
    restart: str | None = None
    """PostgreSQL: the slot's restart_lsn (WAL kept from there on)."""
    lag_bytes: int | None = None
    retained_bytes: int | None = None
    active: bool | None = None
    """PostgreSQL: a connector is streaming from the slot now (None: there is no slot)."""
    stored: dict[TableId, bool] = field(default_factory=dict)
    """Per table in the stored snapshot progress (whatever slot it was taken for): done."""
    snapshot: dict[TableId, str] = field(default_factory=dict)
    """Per captured table: done, in progress (after key …), not started."""
    resnapshot: dict[TableId, str] = field(default_factory=dict)
    """Per table with an incremental snapshot request: its latest request's state."""

    def snapshot_summary(self) -> str:
        """``k of n table(s) done`` over the stored progress (``not started`` without any)."""
        if not self.stored:
            return "not started"
        return f"{sum(self.stored.values())} of {len(self.stored)} table(s) done"


class _TableProgress(Protocol):
    """Either engine's stored snapshot progress of one table."""

    @property
    def done(self) -> bool: ...

    @property
    def after(self) -> Iterable[Any] | None: ...


def source_position(
    source: AnySource, kafka: KafkaSettings, *, full: bool = False
) -> SourcePosition:
    """Where ``source`` resumes (reads the database for PostgreSQL, the store for MySQL).

    ``full`` also reads what ``status`` shows besides: the incremental snapshot requests and,
    for MySQL, the binlog bytes written after the stored position (a connection to the server).
    """
    from strangler.connectors.mysql.config import MysqlSource

    if isinstance(source, MysqlSource):
        return mysql_position(source, kafka, full=full)
    return postgres_position(source, full=full)


def _snapshot_state(progress: _TableProgress | None) -> str:
    if progress is None:
        return "not started"
    if progress.done:
        return "done"
    if progress.after is None:
        return "in progress"
    return f"in progress (after key {', '.join(str(v) for v in progress.after)})"


def _requests(source: AnySource) -> dict[TableId, str]:
    from strangler.connectors.resnapshot import RequestFile

    states: dict[TableId, str] = {}
    for request in RequestFile.of(source).load():  # oldest first: the latest one wins
        detail = f"{request.chunks} chunks, {request.rows} rows"
        states[request.table] = f"{request.state} ({detail})"
    return states


# ---- PostgreSQL -------------------------------------------------------------------------------


def progress_file(source: PostgresSource) -> ProgressFile:
    """The source's snapshot progress file (``<state_dir>/<name>.snapshot.json``)."""
    from strangler.connectors.postgres.progress import ProgressFile

    return ProgressFile(source.state_dir / f"{source.name}.snapshot.json")


def postgres_position(source: PostgresSource, *, full: bool = False) -> SourcePosition:
    """The slot and snapshot state of one PostgreSQL source (``full``: and its requests)."""
    import psycopg

    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.preflight import list_tables

    try:
        with connect(source.dsn.get_secret_value(), connect_timeout=int(TIMEOUT_S)) as conn:
            row = conn.execute(_SLOT, (source.slot,)).fetchone()
            tables = source.tables.select(list_tables(conn))
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            f"PostgreSQL of source {source.name}: {exc}".strip(),
            fix="check the dsn's database and the server (pg_isready)",
        ) from exc
    out = SourcePosition(source.name, "postgres", f"slot {source.slot}")
    if row is not None:
        out.active, out.position, out.restart, out.lag_bytes, out.retained_bytes = row
    progress = progress_file(source).load()
    stored = progress.tables if progress is not None else {}
    out.stored = {t: p.done for t, p in stored.items()}
    current = progress is not None and row is not None and progress.slot == source.slot
    out.snapshot = {t: _snapshot_state(stored.get(t) if current else None) for t in tables}
    if full:
        out.resnapshot = _requests(source)
    return out


# ---- MySQL / MariaDB -------------------------------------------------------------------------


def _offsets_path(source: MysqlSource) -> Path:
    return source.state_dir / f"{source.name}.offsets.json"


def store_name(source: MysqlSource) -> str:
    """Where the source's position is kept, for people."""
    from strangler.connectors.mysql.config import OffsetStoreKind

    if source.offsets.store is OffsetStoreKind.KAFKA:
        return f"kafka topic {source.offsets.topic}"
    return f"file {_offsets_path(source)}"


def mysql_store(source: MysqlSource, kafka: KafkaSettings) -> OffsetStore:
    """The source's offset store, read with a short timeout (its topic is never created here)."""
    from strangler.connectors.mysql.config import OffsetStoreKind
    from strangler.connectors.offsets import FileOffsetStore, KafkaOffsetStore

    if source.offsets.store is OffsetStoreKind.KAFKA:
        return KafkaOffsetStore(kafka, source.offsets.topic, source.name, timeout=TIMEOUT_S)
    return FileOffsetStore(_offsets_path(source))


def mysql_state(source: MysqlSource, kafka: KafkaSettings) -> SourceState | None:
    """The stored state of a MySQL source (None: nothing stored yet, or no offsets topic)."""
    from strangler.cli.services import kafka_admin, kafka_metadata
    from strangler.connectors.mysql.config import OffsetStoreKind
    from strangler.connectors.mysql.state import StateStore

    if source.offsets.store is OffsetStoreKind.KAFKA:
        topics = kafka_metadata(kafka_admin(kafka), kafka).topics
        if source.offsets.topic not in topics:
            return None
    store = mysql_store(source, kafka)
    try:
        return StateStore(store).load()
    finally:
        store.close()


def mysql_position(
    source: MysqlSource, kafka: KafkaSettings, *, full: bool = False
) -> SourcePosition:
    """The stored position and snapshot state of one MySQL/MariaDB source (``full``: and its
    requests and binlog bytes behind)."""
    out = SourcePosition(source.name, "mysql", store_name(source))
    state = mysql_state(source, kafka)
    if state is None:
        return out
    out.position = state.position.encode()
    out.stored = {t: p.done for t, p in state.tables.items()}
    out.snapshot = {t: _snapshot_state(p) for t, p in state.tables.items()}
    if full:
        out.resnapshot = _requests(source)
        if state.position.file is not None:
            file = state.position.file
            out.lag_bytes = _binlog_behind(source, file.file, file.pos)
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


# ---- views ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewOffset:
    """The next offset a view applies from one partition, as stored with its rows."""

    view: str
    topic: str
    partition: int
    next_offset: int
    position: str | None
    """The last source position applied from this partition."""


def open_view_target(view: ViewConfig) -> Target | None:
    """The view's database (None: a SQLite file not created yet, which opening would create);
    one that does not answer or cannot be opened is ``ServiceUnavailable``."""
    from strangler.connectors.postgres.connector import connect
    from strangler.materializers.service import open_target

    if view.target.sqlite is not None and not view.target.sqlite.path.exists():
        return None
    if view.target.postgres is not None:  # fail fast and clearly when it is down
        dsn = view.target.postgres.dsn.get_secret_value()
        connect(dsn, connect_timeout=int(TIMEOUT_S)).close()
    try:
        return open_target(view)
    except Exception as exc:
        raise ServiceUnavailable(
            f"view {view.name}: its database cannot be opened: {exc}",
            fix="check the view's target (a PostgreSQL target's dsn and server)",
        ) from exc


def view_offsets(view: ViewConfig) -> list[ViewOffset] | None:
    """Next offset to apply per partition, as stored in the view (None: never started)."""
    target = open_view_target(view)
    if target is None:
        return None
    try:
        offsets = target.load_offsets(view.name)
        positions = target.load_positions(view.name)
    finally:
        target.close()
    kinds = {t.topic: t.position_kind for t in view.topics}
    return [
        ViewOffset(view.name, topic, part, offset,
                   _position(positions.get((topic, part)), kinds.get(topic)))
        for (topic, part), offset in sorted(offsets.items())
    ]  # fmt: skip


def describe_position(raw: bytes, kind: PositionKind) -> str:
    """A stored sort key as the position it stands for (MySQL: binlog file number:offset)."""
    from strangler.materializers.positions import PositionKind

    if len(raw) == 16:
        return f"binlog #{int.from_bytes(raw[:8], 'big')}:{int.from_bytes(raw[8:], 'big')}"
    if len(raw) == 8:
        value = int.from_bytes(raw, "big")
        if kind is PositionKind.PG_LSN:
            return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
        return str(value)
    return raw.hex()


def _position(raw: bytes | None, kind: PositionKind | None) -> str | None:
    from strangler.materializers.positions import PositionKind

    return None if raw is None else describe_position(raw, kind or PositionKind.PG_LSN)


def behind(stored: Mapping[tuple[str, int], int] | None, topic: str, end: TopicEnd) -> int:
    """Records of ``topic`` the view has not applied yet."""
    return sum(max(high - (stored or {}).get((topic, p), 0), 0) for p, high in end.ends.items())
