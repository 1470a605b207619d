"""The MySQL/MariaDB connector: preflight, snapshot, then the binlog, into table topics.

``MysqlConnector.run()`` is the coordinator of the snapshot source (``snapshotter``) and the
streaming source (``stream.BinlogSource``), both publishing through a ``Publisher`` (acks=all,
idempotent). The server keeps no position for a binlog reader, so the connector stores its own
(``state``) in an offset store (a local file, or a compacted Kafka topic):

1. preflight (with the stored position: is it still in the server's binlogs?); fatal findings
   stop the connector with their fixes. In ``when_needed`` mode a purged position starts over
   with a new snapshot instead;
2. the snapshot, in one consistent read at a known binlog position P. The state (position P,
   no table done) is stored before the first chunk; acknowledged chunks are recorded as they
   complete. A run that finds tables pending (a crash mid-snapshot, tables added to the
   pipeline) snapshots only those, in a fresh snapshot, and the stream still starts at the
   stored position: it replays every change since, so the topics converge to the tables;
3. streaming from the stored position: each committed transaction's table versions are
   registered first, then its events are published; the stored position moves only to what
   Kafka acknowledged (``Publisher.acknowledged()``), on transaction boundaries. Transactions
   of other databases arrive empty: nothing is published, but the position moves past them;
4. on stop (``stop`` set): flush the producer, store the acknowledged position, close.

The binlog is read in a thread of its own (a blocking socket read cannot watch ``stop``), into
a bounded queue that the coordinator drains.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pymysql

from strangler.connectors.config import SnapshotMode
from strangler.connectors.mysql.config import MysqlSource, OffsetStoreKind, PositionMode
from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.incremental import MysqlIncremental
from strangler.connectors.mysql.metrics import ConnectorMetrics
from strangler.connectors.mysql.native_stream import StreamEncoder
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition, parse_gtids
from strangler.connectors.mysql.preflight import Finding, preflight
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.connectors.mysql.snapshotter import SnapshotInterrupted, SnapshotSource
from strangler.connectors.mysql.state import SourceState, StateStore, TableProgress
from strangler.connectors.mysql.stream import BinlogSource
from strangler.connectors.mysql.transactions import Transaction
from strangler.connectors.offsets import FileOffsetStore, KafkaOffsetStore, OffsetStore
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.publisher import Publisher
from strangler.connectors.serialization import SchemaRegistrar
from strangler.connectors.topics import ensure_compacted_topics, table_topic
from strangler.core.errors import ConfigError, ServiceUnavailable, StranglerError
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings, base_config, producer_config

if TYPE_CHECKING:
    from confluent_kafka import Producer

log = logging.getLogger("strangler.connectors.mysql")

POSITION_KIND = "mysql_file_pos"
_SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
_METRICS_EVERY_S = 10.0
_QUEUE_TRANSACTIONS = 1_000
_WAIT_IN_FLIGHT_S = 0.001
"""How long the loop waits for a transaction while others await Kafka's acknowledgement (it
then serves delivery reports: a coarser wait adds itself to the commit-to-stored latency)."""
_QUEUE_BYTES = 16 << 20
"""Bytes of row events (``Transaction.weight``) the binlog reader may hold ahead of the
publisher (memory; a larger transaction still passes, alone). Rows are decoded only when
published, so this is about their row images."""
_SNAPSHOT_ATTEMPTS = 5


class PreflightFailed(MysqlError):
    """The server or the configuration cannot be captured correctly; each finding has a fix."""

    exit_code = 2  # as the PostgreSQL connector's: the configuration or server must change

    def __init__(self, findings: Sequence[Finding]) -> None:
        fatal = [f for f in findings if f.fatal]
        super().__init__(
            "preflight failed:\n" + "\n".join(str(f) for f in fatal),
            fix="apply the fixes above, then start the connector again",
        )
        self.findings = list(findings)


def offset_store(source: MysqlSource, kafka: KafkaSettings) -> OffsetStore:
    """The store the source's configuration names."""
    if source.offsets.store is OffsetStoreKind.KAFKA:
        store = KafkaOffsetStore(kafka, source.offsets.topic, source.name)
        store.ensure_topic()
        return store
    return FileOffsetStore(source.state_dir / f"{source.name}.offsets.json")


def connect_server(settings: dict[str, Any], timeout: int | None = None) -> pymysql.Connection[Any]:
    """An autocommit session; a failed connection raises what it means for a person: refused
    by the server (user, password: the configuration must change) or no answer."""
    extra: dict[str, Any] = {} if timeout is None else {"connect_timeout": timeout}
    try:
        return pymysql.connect(**settings, autocommit=True, **extra)
    except pymysql.err.OperationalError as exc:
        where = f"{settings.get('host')}:{settings.get('port')}"
        code, reason = (*exc.args, 0, "")[:2]
        if code in (2003, 2005, 2006, 2013):  # no connection, unknown host, gone, lost
            raise ServiceUnavailable(
                f"MySQL/MariaDB at {where} is unreachable: {reason}",
                fix="check that the server runs and the url's host and port "
                f"(mysqladmin -h {settings.get('host')} -P {settings.get('port')} ping)",
            ) from exc
        raise ConfigError(
            f"MySQL/MariaDB at {where} refused the connection: {reason}",
            fix="check the user and password of the url (a password written as ${VAR} comes "
            "from the environment)",
        ) from exc


class MysqlConnector:
    """Runs one MySQL/MariaDB source until ``stop`` is set (or, initial_only, the snapshot
    ends)."""

    def __init__(
        self,
        source: MysqlSource,
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
        self.settings = source.connection_settings()
        self.serializer = FastTableSerializer(registrar, namespace)
        self._producer: Producer | None = None
        self._state: StateStore | None = None

    def topic_for(self, table: TableId) -> str:
        return table_topic(self.source.topic_prefix, table)

    # ---- setup -------------------------------------------------------------------------------

    def captured_tables(self, conn: pymysql.Connection[Any]) -> list[TableId]:
        """The server's base tables that the source's patterns select."""
        marks = ", ".join(["%s"] * len(_SYSTEM_SCHEMAS))
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                f"WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ({marks})",
                _SYSTEM_SCHEMAS,
            )
            found = [TableId(_text(s), _text(n)) for s, n in cur.fetchall()]
        tables = self.source.tables.select(found)
        if not tables:
            raise ConfigError(
                f"source {self.source.name}: no table matches tables.include "
                f"{self.source.tables.include}",
                fix="check the patterns (database.table) and that the tables exist",
            )
        self.source.check_overrides(tables)
        return tables

    def check(
        self, conn: pymysql.Connection[Any], stored: SourceState | None
    ) -> tuple[list[TableId], list[Finding]]:
        """Preflight: the captured tables and the fatal findings (warnings are logged)."""
        tables = self.captured_tables(conn)
        keyed_by_override = {t for t in tables if self.source.key_override(t)}
        findings = preflight(
            conn,
            server_id=self.source.server_id,
            tables=[t for t in tables if t not in keyed_by_override],
            stored=stored.position if stored is not None else None,
        )
        for finding in findings:
            if not finding.fatal:
                log.warning("preflight %s", finding)
        return tables, [f for f in findings if f.fatal]

    def _ensure_topics(self, tables: Sequence[TableId]) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(base_config(self.kafka))
        ensure_compacted_topics(
            admin, [self.topic_for(t) for t in tables], self.kafka.partitions,
            self.kafka.replication_factor,
        )  # fmt: skip

    def _new_producer(self) -> Producer:
        from confluent_kafka import Producer

        return Producer(producer_config(self.kafka))

    def save_state(self, state: SourceState) -> None:
        self.store_document(state.to_json(), state.position.encode())

    def store_document(self, document: dict[str, Any], position: str) -> None:
        """Store a state document (``SourceState.to_json``) whose position is ``position``."""
        assert self._state is not None
        self._state.store.save(document)
        self.metrics.stored = position

    def preflight_only(self) -> list[TableId]:
        """``strangler connect --check``: the captured tables; raises ``PreflightFailed``."""
        store = offset_store(self.source, self.kafka)
        try:
            stored = StateStore(store).load()
        finally:
            store.close()
        conn = connect_server(self.settings)
        try:
            tables, fatal = self.check(conn, stored)
        finally:
            conn.close()
        if fatal:
            raise PreflightFailed(fatal)
        return tables

    def teardown(self) -> list[str]:
        """``strangler connect --teardown``: forget the stored position and snapshot progress
        (the next run snapshots again); what was dropped. The server keeps nothing of ours."""
        store = offset_store(self.source, self.kafka)
        try:
            if StateStore(store).load() is None:
                return []
            store.clear()
        finally:
            store.close()
        kind = self.source.offsets.store.value
        return [f"stored position of {self.source.name} ({kind} offset store)"]

    # ---- run ---------------------------------------------------------------------------------

    def run(self) -> None:
        store = offset_store(self.source, self.kafka)
        self._state = StateStore(store)
        try:
            self._run()
        finally:
            if self._producer is not None:
                self._producer.flush(30)
            store.close()

    def _run(self) -> None:
        assert self._state is not None
        state = self._state.load()
        conn = connect_server(self.settings)
        try:
            tables, fatal = self.check(conn, state)
            state = self._after_preflight(state, fatal)
            if state is None and self.source.snapshot.mode is SnapshotMode.NEVER:
                state = SourceState(
                    self._position_now(conn), {t: TableProgress(done=True) for t in tables}
                )
                self.save_state(state)
        finally:
            conn.close()
        self._ensure_topics(tables)
        shapes = TableShapes(self.source, tables, self.serializer, self.topic_for)
        self._producer = self._new_producer()
        state = self._snapshot(shapes, tables, state)
        if state is None or self.stop.is_set():
            return
        if self.source.snapshot.mode is SnapshotMode.INITIAL_ONLY:
            return
        self._stream(shapes, tables, state)

    def _after_preflight(
        self, state: SourceState | None, fatal: list[Finding]
    ) -> SourceState | None:
        """Stop on fatal findings; in when_needed mode a purged position means a new
        snapshot (the stored state is dropped)."""
        retention = [f for f in fatal if f.check == "binlog_retention"]
        when_needed = self.source.snapshot.mode is SnapshotMode.WHEN_NEEDED
        if when_needed and retention and len(retention) == len(fatal):
            log.warning("%s; snapshot mode when_needed: taking a new snapshot", retention[0])
            return None
        if fatal:
            raise PreflightFailed(fatal)
        return state

    def _position_now(self, conn: pymysql.Connection[Any]) -> BinlogPosition:
        """The server's current binlog position (snapshot mode never, first run)."""
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            master = cur.fetchone()
            cur.execute("SELECT @@version")
            version = cur.fetchone()
            mariadb = version is not None and "mariadb" in _text(version[0]).lower()
            cur.execute("SELECT @@gtid_binlog_pos" if mariadb else "SELECT @@gtid_executed")
            gtids = cur.fetchone()
        if master is None:
            raise MysqlError("SHOW MASTER STATUS returned nothing: is the binlog enabled?")
        file = FilePosition(_text(master[0]), int(_text(master[1])))
        return self.stored_form(BinlogPosition(parse_gtids(_text(gtids[0] if gtids else "")), file))

    def stored_form(self, position: BinlogPosition) -> BinlogPosition:
        """``position`` as this source stores it (file mode: the file:pos only)."""
        if self.source.position_mode is PositionMode.FILE or not _has_gtids(position):
            return BinlogPosition(file=position.file)
        return position

    # ---- snapshot ----------------------------------------------------------------------------

    def _snapshot(
        self, shapes: TableShapes, tables: list[TableId], state: SourceState | None
    ) -> SourceState | None:
        """Snapshot what is pending; returns the state streaming starts from (None: stopped
        before the snapshot ended)."""
        pending = tables if state is None else state.pending(tables)
        if state is not None and self.source.snapshot.mode is SnapshotMode.NEVER:
            for table in pending:
                state.mark(table, None, done=True)
            pending = []
        if not pending:
            assert state is not None
            return state
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            try:
                return self._snapshot_once(shapes, state, pending)
            except SnapshotInterrupted as exc:
                if attempt + 1 == _SNAPSHOT_ATTEMPTS:
                    raise
                log.warning("%s; starting a new snapshot of the pending tables", exc.message)
                assert self._state is not None
                state = self._state.load()  # with the first snapshot's position, if stored
                pending = state.pending(tables) if state is not None else tables
        raise AssertionError("unreachable")

    def _snapshot_once(
        self, shapes: TableShapes, state: SourceState | None, pending: list[TableId]
    ) -> SourceState | None:
        reader = SnapshotReader(self.settings, chunk_rows=self.source.snapshot.chunk_rows)
        with reader:
            assert reader.position is not None
            if state is None:
                state = SourceState(self.stored_form(reader.position))
                self.save_state(state)
            log.info("snapshotting %s at %s (streaming resumes at %s)",
                     ", ".join(map(str, pending)), reader.position, state.position)  # fmt: skip
            done = self._read_tables(reader, shapes, state, pending)
        return state if done else None

    def _read_tables(
        self,
        reader: SnapshotReader,
        shapes: TableShapes,
        state: SourceState,
        pending: list[TableId],
    ) -> bool:
        assert self._producer is not None
        publisher = Publisher(self._producer, self.serializer, self.topic_for, POSITION_KIND)
        snapshot = SnapshotSource(reader, shapes, publisher, state, self.save_state, self.stop)
        done = snapshot.run(pending)
        self.metrics.snapshot_rows += snapshot.rows
        if not done and not self.stop.is_set():
            left = ", ".join(str(t) for t in state.pending(pending))
            raise MysqlError(f"the snapshot ended with tables still pending: {left}")
        return done

    # ---- streaming ---------------------------------------------------------------------------

    def _stream(self, shapes: TableShapes, tables: list[TableId], state: SourceState) -> None:
        assert self._producer is not None
        publisher = Publisher(
            self._producer, self.serializer, self.topic_for, POSITION_KIND,
            acknowledged=state.position,
        )  # fmt: skip
        source = BinlogSource(
            self.settings, server_id=self.source.server_id, start=state.position,
            schemas=sorted({t.schema for t in tables}), tables=tables,
        )  # fmt: skip
        log.info("streaming the binlog from %s", state.position)
        self.streaming.set()
        loop = _StreamLoop(self, shapes, publisher, source, state)
        try:
            loop.run()
        finally:
            loop.close()


_END = object()


class _Reader(threading.Thread):
    """Reads the binlog's transactions into a queue bounded in transactions and in bytes
    (the consumer reports what it took with ``taken``); ends with ``_END``."""

    def __init__(self, source: BinlogSource, stop: threading.Event) -> None:
        super().__init__(name="binlog-reader", daemon=True)
        self.source = source
        self.queue: queue.Queue[Any] = queue.Queue(_QUEUE_TRANSACTIONS)
        self._room = threading.Condition()
        self._queued = 0
        """Weight of the transactions in the queue."""
        self.error: BaseException | None = None
        self._halt = stop
        self.closing = False

    def run(self) -> None:
        try:
            for tx in self.source.transactions():
                if not self._reserve(tx.weight) or not self._put(tx):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the coordinator, which raises it
            if not self.closing:
                self.error = exc
        finally:
            self._put(_END, force=True)

    def _reserve(self, weight: int) -> bool:
        """Wait until ``weight`` more fits the queue (or it is empty); False if halted."""
        with self._room:
            while self._queued and self._queued + weight > _QUEUE_BYTES:
                if self._halt.is_set():
                    return False
                self._room.wait(0.1)
            self._queued += weight
        return True

    def taken(self, item: Any) -> None:
        """The consumer took ``item`` from the queue."""
        if isinstance(item, Transaction):
            with self._room:
                self._queued -= item.weight
                self._room.notify()

    def _put(self, item: Any, *, force: bool = False) -> bool:
        while True:
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self._halt.is_set() and not force:
                    return False
                if force:
                    self._drop_one()

    def _drop_one(self) -> None:
        with contextlib.suppress(queue.Empty):
            self.queue.get_nowait()


class _StateWriter(threading.Thread):
    """Stores the stream's acknowledged states off the publishing thread: a save (a file
    written and fsynced, or a record produced and flushed) would stall publishing for as long,
    every ``store_interval_s``. Only the newest state handed over is written (each one is
    acknowledged: an older one is never needed); ``metrics.stored`` names a position once it
    is stored."""

    def __init__(self, owner: MysqlConnector) -> None:
        super().__init__(name="offset-writer", daemon=True)
        self._owner = owner
        self._ready = threading.Condition()
        self._pending: tuple[dict[str, Any], str] | None = None
        self._closed = False
        self.error: BaseException | None = None

    def submit(self, state: SourceState) -> None:
        """Store ``state`` as it is now (raises the error a previous save ended with)."""
        if self.error is not None:
            raise self.error
        with self._ready:
            self._pending = (state.to_json(), state.position.encode())
            self._ready.notify()

    def run(self) -> None:
        while True:
            with self._ready:
                while self._pending is None and not self._closed:
                    self._ready.wait()
                if self._pending is None:
                    return
                document, position = self._pending
                self._pending = None
            try:
                self._owner.store_document(document, position)
            except BaseException as exc:  # noqa: BLE001 - raised by submit and close
                self.error = exc
                return

    def close(self, timeout: float = 60.0) -> None:
        """Write what is pending, then stop; raises the error a save ended with."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self.join(timeout)
        if self.error is not None:
            raise self.error


class _StreamLoop:
    """One streaming session: publish committed transactions, store what Kafka has."""

    def __init__(
        self,
        owner: MysqlConnector,
        shapes: TableShapes,
        publisher: Publisher,
        source: BinlogSource,
        state: SourceState,
    ) -> None:
        self._owner = owner
        self._shapes = shapes
        self._publisher = publisher
        self._state = state
        self._metrics = owner.metrics
        self._reader = _Reader(source, owner.stop)
        self._in_flight = 0
        self._incremental = MysqlIncremental(owner, shapes, publisher, state.position)
        self._encoder = StreamEncoder(shapes, owner.serializer, owner.topic_for)
        self._writer = _StateWriter(owner)
        self._writer.start()
        now = time.monotonic()
        self._next_store = now + owner.source.store_interval_s
        self._next_metrics = now + _METRICS_EVERY_S

    def run(self) -> None:
        self._reader.start()
        while not self._owner.stop.is_set():
            # with transactions in flight, wake up soon to see their acknowledgement
            wait = _WAIT_IN_FLIGHT_S if self._publisher.tracker.in_flight else 0.05
            try:
                item = self._reader.queue.get(timeout=wait)
            except queue.Empty:
                item = None
            self._reader.taken(item)
            if item is _END:
                if self._reader.error is not None:
                    raise self._reader.error
                return  # a non-blocking source reached the end of the binlog
            if item is not None:
                self._publish(item)
            self._tick()

    def _publish(self, tx: Transaction) -> None:
        schemas = self._shapes.register(tx.schemas)
        items = self._encoder.items(tx, schemas)
        end = self._owner.stored_form(tx.position)
        self._publisher.publish(
            items, schemas, end, gtid=tx.gtid, commit_ts_us=tx.commit_ts_us, tx_id=tx.gtid,
            position=tx.position.file,
        )  # fmt: skip
        self._incremental.published(end)
        self._in_flight += 1
        self._metrics.published(tx.commit_ts_us, self._encoder.records)

    def _tick(self) -> None:
        now = time.monotonic()
        # due: stored as soon as Kafka acknowledged more (the interval counts from the last
        # save, so an acknowledgement waits for the next store only when saves are frequent)
        if now >= self._next_store and self._store():
            self._next_store = now + self._owner.source.store_interval_s
        if now >= self._next_metrics:
            figures = {"source": self._owner.source.name, **self._metrics.snapshot()}
            log.info("metrics %s", json.dumps(figures))
            self._next_metrics = now + _METRICS_EVERY_S
        self._incremental.tick(backlog=not self._reader.queue.empty())

    def _store(self) -> bool:
        """Store the acknowledged position if it moved (never one merely received); whether
        it did."""
        acked = self._publisher.acknowledged()
        in_flight = self._publisher.tracker.in_flight
        self._metrics.acknowledged(self._in_flight - in_flight)
        self._in_flight = in_flight
        if isinstance(acked, BinlogPosition) and acked != self._state.position:
            self._state.position = acked
            self._writer.submit(self._state)
            return True
        return False

    def close(self) -> None:
        """Flush what was produced, store what Kafka acknowledged, stop reading. Also on the
        way out of an error: storing an acknowledged position is always safe."""
        self._reader.closing = True
        try:
            try:
                self._publisher.flush()
                self._store()
            finally:
                self._writer.close()
        except StranglerError as exc:
            log.warning("final position not stored (%s); the next run replays from the last "
                        "stored one", exc)  # fmt: skip
        finally:
            self._reader.source.close()
            self._reader.join(10)


def _has_gtids(position: BinlogPosition) -> bool:
    return position.gtids is not None and bool(position.gtids.encode())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run_mysql_source(
    source: MysqlSource,
    kafka: KafkaSettings,
    registry_url: str,
    stop: threading.Event,
    started: Callable[[MysqlConnector], None] | None = None,
) -> None:
    """Run one MySQL source until ``stop`` is set: what ``strangler connect`` calls for a
    ``type: mysql`` source (in a thread of its own, like a PostgreSQL source); ``started`` is
    handed the connector before it runs (``strangler run`` reads its metrics)."""
    from strangler.connectors.postgres.registrar import HttpRegistrar

    registrar = HttpRegistrar(registry_url)
    try:
        connector = MysqlConnector(source, kafka, registrar, stop)
        if started is not None:
            started(connector)
        connector.run()
    finally:
        registrar.close()
