"""The PostgreSQL connector: preflight, publication and slot, snapshot, then streaming.

``PostgresConnector.run()`` is the coordinator of the snapshot source (``snapshotter``) and the
streaming source (``source``), both publishing through a ``Publisher`` (acks=all, idempotent):

1. preflight; the captured tables' compacted topics; the publication (created or extended);
2. the slot: created with an exported snapshot on the first run. Snapshot reads carry the
   slot's consistent point and streaming starts there: no gap, no change applied twice. A run
   that finds the slot already there snapshots only what is still pending (a crash
   mid-snapshot, resumed after the last acknowledged chunk; tables added to the pipeline) in a
   fresh snapshot; the stream then replays every change since the slot's confirmed position,
   so the topics still converge to the tables;
3. streaming: each committed transaction's schema changes are registered first, then its
   events are published; the slot is confirmed only up to what Kafka acknowledged (or, between
   transactions with nothing in flight, up to the last keepalive's position);
4. on stop (SIGTERM/SIGINT set ``stop``): flush the producer, confirm, end replication.

With ``exactly_once`` the same flow runs through Kafka transactions (``exactly_once``): the
slot is confirmed only after the Kafka commit that carried the events and the position.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from strangler.connectors.config import SnapshotMode
from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.errors import PostgresError, SlotError
from strangler.connectors.postgres.exactly_once import KafkaTransactions, committed_position
from strangler.connectors.postgres.incremental import IncrementalSnapshots
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.metrics import ConnectorMetrics, slot_lag
from strangler.connectors.postgres.native_stream import NativeRows
from strangler.connectors.postgres.pgtext import libpq_options
from strangler.connectors.postgres.preflight import (
    PreflightFailed,
    Severity,
    TableFacts,
    list_tables,
    needs_full_identity,
    preflight,
)
from strangler.connectors.postgres.progress import ProgressFile, SnapshotProgress
from strangler.connectors.postgres.publication import drop_publication, ensure_publication
from strangler.connectors.postgres.rows import RowDecoder
from strangler.connectors.postgres.schemas import TableShapes
from strangler.connectors.postgres.slot import create_slot, drop_slot, find_slot
from strangler.connectors.postgres.snapshot import SnapshotReader
from strangler.connectors.postgres.snapshotter import SnapshotSource
from strangler.connectors.postgres.source import StreamingSource, replication_connection
from strangler.connectors.postgres.transactions import Transaction, TransactionAssembler
from strangler.connectors.publisher import Publisher
from strangler.connectors.serialization import SchemaRegistrar
from strangler.connectors.topics import ensure_compacted_topics, table_topic
from strangler.core.errors import ConfigError, ServiceUnavailable, StranglerError
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings, base_config, producer_config

if TYPE_CHECKING:
    from confluent_kafka import Producer

log = logging.getLogger("strangler.connectors.postgres")

POSITION_KIND = "pg_lsn"
HEARTBEAT_PREFIX = "strangler.heartbeat"
_METRICS_EVERY_S = 10.0
_POLL_EVERY_S = 0.005


def connect(dsn: str, connect_timeout: int | None = None) -> psycopg.Connection[Any]:
    """An ordinary autocommit session with the settings the text parsers rely on; a failed
    connection raises ``connection_failed``'s error (unreachable, or refused by the server)."""
    timeout: dict[str, Any] = (
        {} if connect_timeout is None else {"connect_timeout": connect_timeout}
    )
    try:
        return psycopg.connect(dsn, autocommit=True, options=libpq_options(), **timeout)
    except psycopg.OperationalError as exc:
        raise connection_failed(exc, dsn) from exc


def connection_failed(exc: psycopg.OperationalError, dsn: str) -> StranglerError:
    """What a failed connection means for a person: the server answered and refused (a wrong
    user, password or database: the configuration must change), or it did not answer."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    where = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"
    text = str(exc).strip()
    if "FATAL:" in text:
        reason = text.split("FATAL:", 1)[1].strip()
        return ConfigError(
            f"PostgreSQL at {where} refused the connection: {reason}",
            fix="check the user, password and database of the dsn (a password written as "
            "${VAR} comes from the environment)",
        )
    reason = text.split("\n")[0].rsplit(" failed: ", 1)[-1].strip()
    host, _, port = where.rpartition(":")
    return ServiceUnavailable(
        f"PostgreSQL at {where} is unreachable: {reason}",
        fix=f"check that the server runs and the dsn's host and port (pg_isready -h {host} "
        f"-p {port})",
    )


class PostgresConnector:
    """Runs one PostgreSQL source until ``stop`` is set (or, initial_only, the snapshot ends)."""

    def __init__(
        self,
        source: PostgresSource,
        kafka: KafkaSettings,
        registrar: SchemaRegistrar,
        stop: threading.Event | None = None,
        *,
        namespace: str = "strangler",
    ) -> None:
        self.source = source
        self.kafka = kafka
        self.stop = stop or threading.Event()
        self.metrics = ConnectorMetrics()
        self.streaming = threading.Event()
        """Set once the snapshot (if any) is complete and streaming has started."""
        self._dsn = source.dsn.get_secret_value()
        self._serializer = FastTableSerializer(registrar, namespace)
        self._progress_file = ProgressFile(source.state_dir / f"{source.name}.snapshot.json")
        self._producer: Producer | None = None
        self._transactions: KafkaTransactions | None = None
        """The open Kafka transaction, in exactly-once mode."""

    def topic_for(self, table: TableId) -> str:
        return table_topic(self.source.topic_prefix, table)

    # ---- setup -------------------------------------------------------------------------------

    def check(self, conn: psycopg.Connection[Any]) -> dict[TableId, TableFacts]:
        """Preflight: the captured tables' facts; raises ``PreflightFailed`` on any error."""
        facts = list_tables(conn)
        captured = self.source.tables.select(facts)
        self.source.check_overrides(captured)
        findings = preflight(conn, self.source, [facts[t] for t in captured])
        for finding in findings:
            if finding.severity is Severity.WARNING:
                log.warning("preflight %s", finding)
        if any(f.severity is Severity.ERROR for f in findings):
            raise PreflightFailed(findings)
        return {t: facts[t] for t in captured}

    def _full_identity(
        self, conn: psycopg.Connection[Any], facts: dict[TableId, TableFacts]
    ) -> None:
        for table, table_facts in facts.items():
            if needs_full_identity(self.source, table_facts):
                log.info("setting REPLICA IDENTITY FULL on %s (replica_identity_full)", table)
                name = sql.Identifier(table.schema, table.name)
                conn.execute(sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(name))

    def _keys(self, facts: dict[TableId, TableFacts]) -> dict[TableId, tuple[str, ...]]:
        return {t: tuple(self.source.key_override(t) or f.primary_key) for t, f in facts.items()}

    def _ensure_topics(self, tables: Sequence[TableId]) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(base_config(self.kafka))
        ensure_compacted_topics(
            admin, [self.topic_for(t) for t in tables], self.kafka.partitions,
            self.kafka.replication_factor,
        )  # fmt: skip
        if self.source.exactly_once:
            ensure_compacted_topics(admin, [self.offsets_topic], 1, self.kafka.replication_factor)

    @property
    def offsets_topic(self) -> str:
        return self.source.offsets_topic or f"{self.source.topic_prefix}._strangler_offsets"

    def _new_producer(self) -> Producer:
        from confluent_kafka import Producer

        if not self.source.exactly_once:
            return Producer(producer_config(self.kafka))
        transactional_id = f"strangler.{self.source.name}.{self.source.slot}"
        producer = Producer(producer_config(self.kafka, **{"transactional.id": transactional_id}))
        self._transactions = KafkaTransactions(producer, self.offsets_topic, self.source.name)
        self._transactions.init()
        return producer

    # ---- run ---------------------------------------------------------------------------------

    def run(self) -> None:
        with connect(self._dsn) as conn:
            facts = self.check(conn)
            tables = sorted(facts)
            self._ensure_topics(tables)
            self._full_identity(conn, facts)
            ensure_publication(
                conn, self.source.publication, tables, create=self.source.create_publication
            )
            catalog: dict[int, Any] = {}
            shapes = TableShapes(
                self.source, self._keys(facts), self._serializer, self.topic_for, catalog
            )
            self._producer = self._new_producer()
            start = self._prepare_slot_and_snapshot(conn, shapes, tables)
            if start is None or self.stop.is_set():
                return
            if self.source.snapshot.mode is SnapshotMode.INITIAL_ONLY:
                return
            self._stream(conn, shapes, start)

    def _prepare_slot_and_snapshot(
        self, conn: psycopg.Connection[Any], shapes: TableShapes, tables: list[TableId]
    ) -> Lsn | None:
        """Create the slot (snapshotting under its exported snapshot) or snapshot what is
        pending; returns where streaming starts (None: stopped before the snapshot ended)."""
        mode = self.source.snapshot.mode
        slot = find_slot(conn, self.source.slot)
        database = conn.info.dbname
        if slot is not None and (slot.plugin != "pgoutput" or slot.database != database):
            raise SlotError(
                f"replication slot {slot.name} exists but is not a pgoutput slot of database "
                f"{database} (plugin {slot.plugin}, database {slot.database})",
                fix="give this source another slot name, or drop that slot if it is unused",
            )
        if slot is None or slot.confirmed_flush is None:
            return self._first_run(conn, shapes, tables, mode)
        progress = self._progress_file.load()
        if progress is None or progress.slot != self.source.slot:
            progress = SnapshotProgress(self.source.slot, slot.confirmed_flush)
            if mode is not SnapshotMode.INITIAL:  # never / when_needed: the slot is the offset
                for table in tables:
                    progress.mark(table, None, done=True)
            self._progress_file.save(progress)
        pending = [] if mode is SnapshotMode.NEVER else progress.pending(tables)
        if pending:
            log.info("snapshotting %s (fresh snapshot; the stream replays since %s)",
                     ", ".join(map(str, pending)), slot.confirmed_flush)  # fmt: skip
            if not self._snapshot(conn, shapes, progress, pending, None, slot.confirmed_flush):
                return None
        return slot.confirmed_flush

    def _first_run(
        self,
        conn: psycopg.Connection[Any],
        shapes: TableShapes,
        tables: list[TableId],
        mode: SnapshotMode,
    ) -> Lsn | None:
        self._progress_file.remove()
        log.info("creating slot %s (waits until transactions running now have ended)",
                 self.source.slot)  # fmt: skip
        with replication_connection(self._dsn) as rconn:
            export = mode is not SnapshotMode.NEVER
            temporary = mode is SnapshotMode.INITIAL_ONLY
            created = create_slot(
                rconn, self.source.slot, export_snapshot=export, temporary=temporary
            )
            log.info("created slot %s at %s", created.name, created.consistent_point)
            progress = SnapshotProgress(self.source.slot, created.consistent_point)
            if not export or created.snapshot_name is None:
                for table in tables:
                    progress.mark(table, None, done=True)
                self._progress_file.save(progress)
                return created.consistent_point
            self._progress_file.save(progress)
            position = created.consistent_point
            if not self._snapshot(conn, shapes, progress, tables, created.snapshot_name, position):
                return None
        if temporary:
            self._wait_slot_dropped(conn)
        return created.consistent_point

    def _wait_slot_dropped(self, conn: psycopg.Connection[Any], timeout: float = 10.0) -> None:
        """A temporary slot goes when its session ends, which the server finishes a moment
        after the client closed it: initial_only returns once the slot is really gone."""
        deadline = time.monotonic() + timeout
        while find_slot(conn, self.source.slot) is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _snapshot(
        self,
        conn: psycopg.Connection[Any],
        shapes: TableShapes,
        progress: SnapshotProgress,
        tables: list[TableId],
        snapshot_name: str | None,
        position: Lsn,
    ) -> bool:
        """Snapshot ``tables`` under the exported snapshot ``snapshot_name`` (a fresh one when
        None); True when all are done, False when stopped. Tables rewritten after an exported
        snapshot was taken are then read under a fresh one: the stream replays every change
        since ``position``, so their topics still converge."""
        assert self._producer is not None
        settings = self.source.snapshot
        with ExitStack() as stack:
            sconn = stack.enter_context(connect(self._dsn))
            reader = SnapshotReader(
                sconn, snapshot_name, position, chunk_rows=settings.chunk_rows, lock=tables
            )
            stack.enter_context(reader)  # imported now: the slot's connection may idle
            siblings = [
                stack.enter_context(reader.sibling(stack.enter_context(connect(self._dsn))))
                for _ in range(min(self.source.snapshot_workers, len(tables)) - 1)
            ]
            if siblings:
                log.info("snapshot: %d tables read %d at a time", len(tables), len(siblings) + 1)
            publisher = Publisher(self._producer, self._serializer, self.topic_for, POSITION_KIND)
            snapshot = SnapshotSource(
                reader, conn, shapes, publisher, progress, self._progress_file, self.stop,
                self._transactions, siblings,
            )  # fmt: skip
            done = snapshot.run(tables, shapes.key_columns())
            self.metrics.snapshot_rows += snapshot.rows
        if done or self.stop.is_set():
            return done
        pending = progress.pending(tables)
        if snapshot_name is not None:
            return self._snapshot(conn, shapes, progress, pending, None, position)
        raise PostgresError(
            f"the snapshot ended with tables still pending: {', '.join(map(str, pending))}"
        )

    # ---- streaming ---------------------------------------------------------------------------

    def _stream(self, conn: psycopg.Connection[Any], shapes: TableShapes, start: Lsn) -> None:
        assert self._producer is not None
        decoder = RowDecoder(shapes.catalog)
        native = NativeRows(shapes, self._serializer, self.topic_for)
        assembler = TransactionAssembler(
            key_columns=shapes.key_columns(), convert=decoder,
            max_in_memory=self.source.max_in_memory, native=native,
        )  # fmt: skip
        publisher = Publisher(
            self._producer, self._serializer, self.topic_for, POSITION_KIND, acknowledged=start
        )
        self._wait_slot_free(conn)
        committed = None
        if self._transactions is not None:
            committed = committed_position(self.kafka, self.offsets_topic, self.source.name)
            log.info("exactly-once: transactions up to %s are in Kafka already", committed)
        source = StreamingSource(
            replication_connection(self._dsn), self.source.slot, self.source.publication,
            start, assembler,
        )  # fmt: skip
        log.info("streaming slot %s from %s", self.source.slot, start)
        self.streaming.set()
        loop = _StreamLoop(self, conn, shapes, decoder, publisher, source, committed)
        try:
            loop.run()
        except BaseException:
            loop.close(failed=True)
            raise
        loop.close(failed=False)

    def _wait_slot_free(self, conn: psycopg.Connection[Any], timeout: float = 60.0) -> None:
        """After a crash the server may still hold the slot for the dead walsender until it
        notices the closed socket (at most wal_sender_timeout): wait for it."""
        deadline = time.monotonic() + timeout
        while (slot := find_slot(conn, self.source.slot)) is not None and slot.active:
            if time.monotonic() > deadline or self.stop.is_set():
                raise SlotError(
                    f"replication slot {self.source.slot} is in use by another process",
                    fix="stop the other connector of this slot (pg_stat_replication shows it), "
                    "or give this source another slot name",
                )
            time.sleep(0.2)

    # ---- teardown ----------------------------------------------------------------------------

    def teardown(self) -> list[str]:
        """Drop this source's slot, publication and progress file; what was dropped."""
        dropped = []
        with connect(self._dsn) as conn:
            if find_slot(conn, self.source.slot) is not None:
                with replication_connection(self._dsn) as rconn:
                    drop_slot(rconn, self.source.slot, wait=True)
                dropped.append(f"slot {self.source.slot}")
            if drop_publication(conn, self.source.publication):
                dropped.append(f"publication {self.source.publication}")
        if self._progress_file.path.exists():
            self._progress_file.remove()
            dropped.append(f"progress file {self._progress_file.path}")
        return dropped


class _StreamLoop:
    """One streaming session: publish committed transactions, confirm what Kafka has."""

    def __init__(
        self,
        owner: PostgresConnector,
        conn: psycopg.Connection[Any],
        shapes: TableShapes,
        decoder: RowDecoder,
        publisher: Publisher,
        source: StreamingSource,
        committed: Lsn | None = None,
    ) -> None:
        self._owner = owner
        self._transactions = owner._transactions
        self._committed = committed
        """Exactly-once: transactions ending at or before this are in Kafka already."""
        self._conn = conn
        self._shapes = shapes
        self._decoder = decoder
        self._publisher = publisher
        self._source = source
        self._settings = owner.source
        self._metrics = owner.metrics
        self._acked: Lsn | None = None
        now = time.monotonic()
        self._next_status = now
        self._next_metrics = now + _METRICS_EVERY_S
        self._last_data = now
        self._incremental = IncrementalSnapshots(
            owner.source, conn, shapes, publisher, lambda: self._acked, owner.metrics,
            owner._transactions,
        )  # fmt: skip

    def run(self) -> None:
        next_poll = 0.0
        while not self._owner.stop.is_set():
            # delivery callbacks are served by this loop: with transactions in flight, do not
            # sleep long in the socket wait, or their acknowledgement is noticed late
            in_flight = self._publisher.tracker.in_flight
            transaction = self._source.next(_POLL_EVERY_S if in_flight else 0.05)
            if transaction is not None:
                self._publish(transaction)
                self._incremental.on_transaction(transaction)
            self._incremental.on_messages(self._source.take_messages())
            now = time.monotonic()
            if now >= next_poll:  # delivery callbacks and timers, not for every message
                self._poll_acknowledged()
                self._tick()
                self._incremental.tick()
                next_poll = now + _POLL_EVERY_S

    def _publish(self, transaction: Transaction) -> None:
        for relation in self._source.take_relations():
            if self._shapes.update(self._conn, relation) is not None:
                self._decoder.refresh()
        if self._committed is not None and transaction.end_lsn <= self._committed:
            return  # exactly-once: committed to Kafka before a crash, not yet confirmed
        if self._transactions is not None:
            self._transactions.begin()
        events = _Counted(self._shapes.project(transaction.items()))
        self._publisher.publish(
            events, self._shapes.schemas, transaction.end_lsn,
            commit_ts_us=transaction.commit_ts_us, tx_id=str(transaction.xid),
        )  # fmt: skip
        self._metrics.published(transaction.end_lsn, transaction.commit_ts_us, events.count)
        if self._transactions is not None:
            self._transactions.record(transaction.end_lsn, events.count)

    def _poll_acknowledged(self) -> None:
        acked = self._publisher.acknowledged()  # also raises if a delivery failed
        if self._transactions is not None:
            # delivered is not enough: only a committed Kafka transaction is safe
            acked = self._transactions.commit() if self._transactions.due() else None
        if isinstance(acked, Lsn) and acked != self._acked:
            self._acked = acked
            self._metrics.acknowledged(acked)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._source.received_data:
            self._source.received_data = False
            self._last_data = now
        if now >= self._next_status:
            self._confirm()
            self._next_status = now + self._settings.status_interval_s
        beat = self._settings.heartbeat_interval_s
        if beat > 0 and now - self._last_data >= beat:
            self._heartbeat()
            self._last_data = now
        if now >= self._next_metrics:
            self._log_metrics()
            self._next_metrics = now + _METRICS_EVERY_S

    def _confirm(self) -> None:
        """Confirm the acknowledged position; between transactions, with nothing in flight,
        the last keepalive's position (everything before it was received and is acknowledged)."""
        target = self._acked
        idle = self._source.idle_position
        quiet = not self._source.in_transaction and self._publisher.tracker.in_flight == 0
        if self._transactions is not None and self._transactions.open:
            quiet = False
        if quiet and idle is not None and (target is None or idle > target):
            target = idle
        stream = self._source.stream
        if target is not None and target > stream.confirmed:
            stream.confirm(target)
            self._metrics.confirmed = stream.confirmed
        else:
            stream.send_status(reply=True)  # asks for a keepalive: the idle position

    def _finish_transaction(self) -> None:
        assert self._transactions is not None
        committed = self._transactions.commit()
        if committed is not None and committed != self._acked:
            self._acked = committed
            self._metrics.acknowledged(committed)

    def _heartbeat(self) -> None:
        """A non-transactional logical message: WAL moves through the slot even when nothing
        captured changes, so the next keepalive lets the slot advance."""
        self._conn.execute(
            "SELECT pg_catalog.pg_logical_emit_message(false, %s, '')", (HEARTBEAT_PREFIX,)
        )

    def _log_metrics(self) -> None:
        figures = {**self._metrics.snapshot(), **slot_lag(self._conn, self._settings.slot)}
        log.info("metrics %s", json.dumps({"source": self._settings.name, **figures}))

    def close(self, *, failed: bool) -> None:
        """Flush what was produced, confirm what Kafka acknowledged, end replication. Also on
        the way out of an error: confirming an acknowledged position is always safe (in
        exactly-once mode the open Kafka transaction is aborted then: it may hold part of the
        failed source transaction)."""
        try:
            if self._transactions is not None and failed:
                self._transactions.abort()
            elif self._transactions is not None:
                self._publisher.flush()
                self._finish_transaction()
            self._publisher.flush()
            self._poll_acknowledged()
            self._confirm()
        except (StranglerError, psycopg.Error) as exc:
            log.warning("final position not confirmed (%s); the next run replays from the last "
                        "confirmed one", exc)  # fmt: skip
        finally:
            self._incremental.close()
            self._source.close()


class _Counted:
    """Counts the events an iterable yields (the publisher consumes it)."""

    def __init__(self, events: Any) -> None:
        self._events = iter(events)
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Any:
        event = next(self._events)
        self.count += 1
        return event
