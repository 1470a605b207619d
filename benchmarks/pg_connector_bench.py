"""Benchmark of the PostgreSQL connector on a real PostgreSQL, Kafka and our registry.

Phases (each printed with its figure):

1. snapshot: rows/s of the initial snapshot of one ``--rows``-row table (default 1,000,000);
2. streaming: changes/s of a sustained update workload (``--updates`` row updates committed in
   transactions of 10,000 as fast as PostgreSQL takes them), measured from the first commit
   until the slot confirmed the last one (i.e. Kafka acknowledged everything);
3. latency: commit-to-Kafka-acknowledgement latency p50/p99 at each paced rate of ``--rates``
   changes/s (transactions of 100 updates, evenly spaced, for ``--seconds``);
4. peak RSS of the process (connector, producer and the in-process registry together).

Beside each wall-clock figure, the CPU seconds the process used in that phase (all its threads:
connector, librdkafka, the in-process registry): on a shared machine they vary less than the
wall clock does, and CPU µs per row is what an optimisation changes.

Run against the test stack (``STRANGLER_KEEP_STACK=1`` keeps it running; its ports are the
defaults), the dev stack (``eval "$(strangler dev env)"``) or any endpoints:

    .venv/bin/python benchmarks/pg_connector_bench.py \
        --pg-dsn 'host=127.0.0.1 port=25532 user=postgres' --kafka 127.0.0.1:29192
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from strangler.connectors.config import SnapshotSettings, TableSelection
from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.connector import PostgresConnector
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.connectors.postgres.rows import RowDecoder
from strangler.core.events import TableId
from strangler.core.kafka import KafkaSettings
from strangler.schema_registry.config import RegistrySettings
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.sqlite_storage import SqliteStorage

SLOT = f"bench_{uuid.uuid4().hex[:12]}"  # slot names are cluster-wide


def _lsn(conn: psycopg.Connection[tuple[object, ...]], query: str) -> Lsn | None:
    row = conn.execute(query).fetchone()
    return None if row is None or row[0] is None else Lsn.parse(str(row[0]))


def _confirmed(conn: psycopg.Connection[tuple[object, ...]]) -> Lsn | None:
    return _lsn(
        conn,
        f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{SLOT}'",
    )


def _wait_confirmed(conn: psycopg.Connection[tuple[object, ...]], target: Lsn) -> float:
    while True:
        confirmed = _confirmed(conn)
        if confirmed is not None and confirmed >= target:
            return time.monotonic()
        time.sleep(0.01)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _create_table(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), "
            "created timestamptz, active boolean, qty int)"
        )
        conn.execute(
            "INSERT INTO items SELECT g, 'item ' || g, g / 100.0, "
            "'2024-01-01'::timestamptz + g * interval '1 second', g %% 2 = 0, g %% 1000 "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE items")


def _cpu(since: float, count: int) -> str:
    """CPU seconds of this process since ``since`` (``time.process_time``), and per item."""
    used = time.process_time() - since
    return f"CPU {used:.2f} s = {used / max(count, 1) * 1e6:.1f} µs each"


def _snapshot_phase(connector: PostgresConnector, rows: int, started: float, cpu: float) -> None:
    while connector.metrics.snapshot_rows < rows:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    print(f"snapshot: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s, "
          f"{_cpu(cpu, rows)} (peak RSS so far {_rss_mb():.0f} MB)")  # fmt: skip


def _streaming_phase(dsn: str, updates: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        first, cpu = time.monotonic(), time.process_time()
        batch = 10_000
        for low in range(0, updates, batch):
            conn.execute(
                "UPDATE items SET qty = qty + 1 WHERE id > %s AND id <= %s", (low, low + batch)
            )
        committed = time.monotonic()
        target = _lsn(conn, "SELECT pg_current_wal_lsn()::text")
        assert target is not None
        done = _wait_confirmed(conn, target)
    elapsed = done - first
    rate = updates / elapsed
    print(
        f"streaming: {updates} changes in {elapsed:.2f} s = {rate:,.0f} changes/s, "
        f"{_cpu(cpu, updates)} (PostgreSQL committed them in {committed - first:.2f} s)"
    )


def _latency_phase(dsn: str, connector: PostgresConnector, rate: int, seconds: float) -> None:
    per_tx = 100
    interval = per_tx / rate
    connector.metrics.latencies_us.clear()
    with psycopg.connect(dsn, autocommit=True) as conn:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            low = (n * per_tx) % 900_000
            conn.execute(
                "UPDATE items SET qty = qty + 1 WHERE id > %s AND id <= %s", (low, low + per_tx)
            )
            n += 1
            pause = start + n * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        achieved = n * per_tx / (time.monotonic() - start)
        target = _lsn(conn, "SELECT pg_current_wal_lsn()::text")
        assert target is not None
        _wait_confirmed(conn, target)
    time.sleep(0.2)
    latencies = sorted(v / 1000 for v in connector.metrics.latencies_us)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"latency at {achieved:,.0f} changes/s ({len(latencies)} transactions): "
          f"commit-to-Kafka-ack p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {latencies[-1]:.1f} ms")  # fmt: skip


def _floor(dsn: str, kafka: KafkaSettings, rows: int, chunk_rows: int) -> None:
    """CPU seconds of each step of the snapshot path alone, over the whole table, through the
    connector's own functions: the floor under what the whole connector can reach."""
    from confluent_kafka import Producer

    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.copytext import parse_copy_rows
    from strangler.connectors.postgres.messages import TupleData
    from strangler.connectors.postgres.native import native_table
    from strangler.connectors.postgres.rows import table_schema
    from strangler.connectors.postgres.snapshot import SnapshotReader
    from strangler.connectors.topics import ensure_compacted_topics
    from strangler.core.kafka import base_config, producer_config

    class Registrar:
        def register(self, subject: str, schema: Any) -> int:
            return 1

    table = TableId("public", "items")
    steps: dict[str, float] = {}
    serializer = FastTableSerializer(Registrar(), "bench")

    def step(name: str, started: float) -> None:
        steps[name] = time.process_time() - started

    with connect(dsn) as conn, SnapshotReader(conn, None, Lsn(0), chunk_rows=chunk_rows) as reader:
        relation = reader.describe(table)
        query = sql.SQL("COPY (SELECT * FROM items ORDER BY id) TO STDOUT")
        cpu, data = time.process_time(), bytearray()
        with conn.cursor() as cursor, cursor.copy(query) as copy:
            for block in copy:
                data += block
        step("COPY read (bytes only)", cpu)
        schema = table_schema(relation, reader.catalog)
        native = native_table(relation, schema, reader.catalog, serializer, "t")
        assert native is not None, "the bench table should take the native path"
        cpu = time.process_time()
        chunk = native.encode(bytes(data))
        native_cpu = time.process_time() - cpu
        del chunk
        cpu = time.process_time()
        texts = parse_copy_rows(bytes(data))
        step("COPY text parse", cpu)
        del data
        decode, cpu = RowDecoder(reader.catalog), time.process_time()
        values = [decode(relation, TupleData(t)) for t in texts]
        step("text -> Python values", cpu)
        del texts
    cpu = time.process_time()
    keys = [serializer.key("t", schema, {"id": v["id"]}) for v in values]
    step("key encode", cpu)
    cpu = time.process_time()
    encoded = [serializer.value("t", schema, v) for v in values]
    step("value encode", cpu)
    del values
    from confluent_kafka.admin import AdminClient

    topic = f"floor_{uuid.uuid4().hex[:8]}"
    ensure_compacted_topics(AdminClient(base_config(kafka)), [topic], 1, 1)
    producer = Producer(producer_config(kafka))
    headers: list[tuple[str, str | bytes | None]] = [
        ("op", b"r"), ("position", b"chunk 1 of public.items"), ("position_kind", b"pg_lsn"),
    ]  # fmt: skip
    delivered = [0]

    def on_delivery(err: Any, _msg: Any) -> None:
        delivered[0] += 1

    cpu = time.process_time()
    for key, value in zip(keys, encoded, strict=True):
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    produce_step = "produce prebuilt records (headers, callback)"
    step(produce_step, cpu)
    for name, used in steps.items():
        print(f"floor: {name:46s} CPU {used:6.2f} s = {used / rows * 1e6:5.1f} µs/row")
    total = sum(steps.values())
    print(f"floor: {'sum':46s} CPU {total:6.2f} s = {total / rows * 1e6:5.1f} µs/row "
          f"= at most {rows / total:,.0f} rows/s per core")  # fmt: skip
    name = "native: COPY text -> Avro key+value records"
    print(f"floor: {name:46s} CPU {native_cpu:6.2f} s = {native_cpu / rows * 1e6:5.1f} µs/row "
          "(replaces parse, decode, key and value encode)")  # fmt: skip
    native_total = steps["COPY read (bytes only)"] + native_cpu + steps[produce_step]
    print(f"floor: {'sum, native path':46s} CPU {native_total:6.2f} s = "
          f"{native_total / rows * 1e6:5.1f} µs/row = at most {rows / native_total:,.0f} "
          "rows/s per core")  # fmt: skip


def _registry(tmp: Path) -> tuple[Any, Callable[[], None]]:
    """Our registry in process on a free port: (server thread, close). The server module is
    looked up by name because its entry points are being reshaped (build_app/build_instance)."""
    server_module = importlib.import_module("strangler.schema_registry.server")
    settings = RegistrySettings(port=0, sqlite_path=tmp / "schemas.db")
    build_instance = getattr(server_module, "build_instance", None)
    if build_instance is not None:
        instance = build_instance(settings)
        app, close = instance.app, instance.close
    else:
        registry = SchemaRegistry(SqliteStorage(settings.sqlite_path))
        app, close = server_module.build_app(settings, registry), registry.close
    return server_module.ServerThread(app).start(), close


def _profile_streaming(path: Path) -> None:
    """Profile ``PostgresConnector._stream`` (the streaming loop) into ``path``."""
    import cProfile

    stream = PostgresConnector._stream

    def profiled(self: PostgresConnector, *args: Any) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            stream(self, *args)
        finally:
            profiler.disable()
            profiler.dump_stats(path)

    PostgresConnector._stream = profiled  # type: ignore[method-assign,assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(  # defaults: the environment (strangler dev env), else the test stack
        "--pg-dsn",
        default=os.environ.get("STRANGLER_PG_DSN", "host=127.0.0.1 port=25532 user=postgres"),
    )
    parser.add_argument(
        "--kafka", default=os.environ.get("STRANGLER_KAFKA_BOOTSTRAP", "127.0.0.1:29192")
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument(
        "--rates", default="10000,2000", help="comma-separated paced rates for the latency phase"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--exactly-once", action="store_true", help="Kafka transactions mode")
    parser.add_argument(
        "--floor", action="store_true", help="only the CPU cost of each snapshot step alone"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the streaming loop here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(args.pg_dsn, dbname=name)
    tmp = Path(tempfile.mkdtemp(prefix="pgbench-"))
    server, close_registry = _registry(tmp)
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        print(f"loading {args.rows} rows into {name}.items ...")
        _create_table(dsn, args.rows)
        if args.floor:
            kafka = KafkaSettings(bootstrap_servers=args.kafka, replication_factor=1)
            _floor(dsn, kafka, args.rows, args.chunk_rows)
            return
        source = PostgresSource(
            name="bench", dsn=SecretStr(dsn), slot=SLOT, publication="bench_pub",
            topic_prefix=name, tables=TableSelection(include=["public.items"]),
            snapshot=SnapshotSettings(chunk_rows=args.chunk_rows), state_dir=tmp / "state",
            status_interval_s=0.05, exactly_once=args.exactly_once,
        )  # fmt: skip
        kafka = KafkaSettings(bootstrap_servers=args.kafka, replication_factor=1)
        if args.profile is not None:
            _profile_streaming(args.profile)
        connector = PostgresConnector(source, kafka, HttpRegistrar(server.url), stop)
        started, cpu = time.monotonic(), time.process_time()
        thread = threading.Thread(target=connector.run, daemon=True)
        thread.start()
        _snapshot_phase(connector, args.rows, started, cpu)
        time.sleep(1.0)
        _streaming_phase(dsn, args.updates)
        for rate in (int(r) for r in args.rates.split(",")):
            _latency_phase(dsn, connector, rate, args.seconds)
        print(f"peak RSS: {_rss_mb():.0f} MB")
    finally:
        stop.set()
        if thread is not None:
            thread.join(60)
        server.stop()
        close_registry()
        with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                (SLOT,),
            )


if __name__ == "__main__":
    main()
