"""Materializer benchmark: apply rate into SQLite and PostgreSQL, bootstrap of many keys, and
the latency the materializer adds.

    .venv/bin/python benchmarks/materializer_bench.py [--records N] [--keys N]
        [--bootstrap-keys N] [--pg-dsn DSN] [--kafka HOST:PORT] [--latency-seconds S]

- apply: N Confluent-framed records (key + 5-column value, updates over ``--keys`` keys) are
  applied in batches of 10,000 as the view runner applies them (no Kafka in the loop: this is
  the materializer's own cost): by the fused apply (``fused``) once the first batch
  has made the table (SQLite: bound to SQLite's statements; PostgreSQL: COPY binary data
  written from the payloads, then the set-based statements), as the view runner does.
  Messages/s are printed (``STRANGLER_FUSED_APPLY=0``: through the Python path, decoded and
  applied through the decoder and applier, a PostgreSQL view's batch in an ``ApplyThread``
  while the next one is decoded and prepared).
- bootstrap: ``--bootstrap-keys`` distinct keys into an empty view (messages/s and seconds).
- latency (with ``--kafka``): after one warm-up record has gone through the view, a producer
  sends ~1,000 records/s for ``--latency-seconds``; a view runner applies them; for each
  record, added = commit done - handed over by the consumer (also as CPU time of the runner's
  thread, which a shared machine does not inflate), end-to-end = commit done - Kafka
  timestamp. p50/p99 printed.
- floors: the Python path's SQLite statements alone, run by the sqlite3 module with parameters
  made beforehand (the fused apply, which binds in C, now does better than this), and (with
  ``--kafka``) consuming the update records from a real topic, alone and with decoding.
Peak RSS of the process is printed at the end. Runs on one core (one thread applies).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import random
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Message

from strangler.materializers.applier import Applier, Prepared
from strangler.materializers.apply_thread import ApplyThread
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import KafkaRecord, RecordDecoder, encode
from strangler.materializers.fused import fast_apply
from strangler.materializers.records import ChangeRecord
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.target import Target

TOPIC = "bench.public.products"
KEY_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Key",
    "fields": [{"name": "id", "type": "long"}],
}
VALUE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Value",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"], "default": None},
        {"name": "price", "type": ["null", "double"], "default": None},
        {"name": "qty", "type": ["null", "int"], "default": None},
        {
            "name": "updated",
            "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            "default": None,
        },
    ],
}
SCHEMAS = StaticSchemas({1: KEY_SCHEMA, 2: VALUE_SCHEMA})
BATCH = 10_000


def message(offset: int, key: bytes, value: bytes | None, position: int) -> Message:
    """An in-memory Kafka record: a ``confluent_kafka.Message`` as the consumer hands it over
    (its methods are C, as in production; no broker involved)."""
    headers: list[tuple[str, str | bytes | None]] = [
        ("op", b"u" if value else b"d"),
        ("position", f"0/{position:X}".encode()),
    ]
    return Message(topic=TOPIC, partition=0, offset=offset, key=key, value=value, headers=headers)


def parsed_schemas() -> tuple[Any, Any]:
    return fastavro.parse_schema(KEY_SCHEMA), fastavro.parse_schema(VALUE_SCHEMA)


def make_messages(count: int, keys: int, distinct: bool) -> list[Message]:
    rng = random.Random(1)
    key_schema, value_schema = (
        fastavro.parse_schema(KEY_SCHEMA),
        fastavro.parse_schema(VALUE_SCHEMA),
    )
    now = datetime.datetime.now(datetime.UTC)
    out = []
    for i in range(count):
        k = i if distinct else rng.randrange(keys)
        row = {"id": k, "name": f"product {k}", "price": rng.random() * 100, "qty": i % 1000}
        row["updated"] = now
        key = encode(1, key_schema, {"id": k})
        value = None if not distinct and rng.random() < 0.05 else encode(2, value_schema, row)
        out.append(message(i, key, value, i + 1))
    return out


def view_config(target: dict[str, Any]) -> ViewConfig:
    return ViewConfig.model_validate(
        {"name": "bench", "target": target, "topics": [{"topic": TOPIC, "table": "products"}]}
    )


Timing = tuple[float, float]
"""(wall seconds, CPU seconds of this process)."""


def _clock() -> Timing:
    return time.perf_counter(), time.process_time()


def _since(start: Timing) -> Timing:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def apply_all(view: ViewConfig, target: Target, messages: Sequence[Message]) -> Timing:
    """Time to decode and apply ``messages`` in batches (one applied while the next one is
    decoded and prepared, as in the view runner)."""
    applier, decoder = Applier(view, target), RecordDecoder(view.topics, SCHEMAS)
    applying: ApplyThread[tuple[Sequence[Any], Prepared | None]] = ApplyThread(
        lambda work: applier.apply(*work), "bench-apply", target.apply_ahead
    )
    fast = fast_apply(applier, decoder)

    def python_path(chunk: Sequence[KafkaRecord]) -> None:
        batch = decoder.decode_all(chunk)
        applying.submit((batch, applier.prepare(batch)))

    start = _clock()
    try:
        for i in range(0, len(messages), BATCH):
            chunk = messages[i : i + BATCH]
            if fast is None:
                python_path(chunk)
                continue
            applying.wait()  # as the view runner does: the fused apply first
            for left in fast.apply(chunk):
                python_path(left)
        for left in fast.settle() if fast is not None else []:
            python_path(left)
    finally:
        applying.close()
    return _since(start)


def sqlite_target(tmp: Path) -> tuple[ViewConfig, Callable[[], Target]]:
    from strangler.materializers.sqlite_target import SqliteTarget

    path = tmp / f"{uuid.uuid4().hex}.db"
    view = view_config({"sqlite": {"path": str(path)}})
    return view, lambda: SqliteTarget(path)


def postgres_target(dsn: str) -> tuple[ViewConfig, Callable[[], Target]]:
    from strangler.materializers.postgres_target import PostgresTarget

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    view = view_config({"postgres": {"dsn": dsn, "schema": schema}})
    return view, lambda: PostgresTarget(dsn, schema)


def drop_schema(target: Target, view: ViewConfig) -> None:
    """Leave the shared database as it was."""
    from strangler.materializers.identifiers import quote
    from strangler.materializers.postgres_target import PostgresTarget

    assert isinstance(target, PostgresTarget) and view.target.postgres is not None
    target.conn.execute(f"DROP SCHEMA {quote(view.target.postgres.db_schema)} CASCADE".encode())
    target.close()


def report(label: str, count: int, timing: Timing) -> None:
    """Wall time and rate, and the rate per CPU-second of this process (what one core does
    when the machine is shared; for PostgreSQL the server's own CPU is not in it)."""
    wall, cpu = timing
    print(
        f"{label:<40} {count:>10,} msgs {wall:7.2f} s wall {cpu:7.2f} s CPU "
        f"{count / wall:>10,.0f} msg/s wall {count / cpu:>10,.0f} msg/s per CPU-s"
    )


def decode_only(messages: Sequence[Message]) -> Timing:
    decoder = RecordDecoder(view_config({"sqlite": {"path": "x"}}).topics, SCHEMAS)
    start = _clock()
    for i in range(0, len(messages), BATCH):
        decoder.decode_all(messages[i : i + BATCH])
    return _since(start)


def sqlite_floor(tmp: Path, messages: Sequence[Message]) -> Timing:
    """The database's own share: the SQLite target's statements run with parameter tuples
    made beforehand (decoded, converted), in transactions of ``BATCH`` records. What is left
    of the apply rate once every line of Python of the materializer is gone."""
    from strangler.materializers.sqlite_target import (
        SqliteTarget,
        delete_statements,
        upsert_statement,
    )
    from strangler.materializers.tables import table_spec

    view, _ = sqlite_target(tmp)
    spec = table_spec(view.topics[0], KEY_SCHEMA, VALUE_SCHEMA)
    target = SqliteTarget(tmp / f"{uuid.uuid4().hex}.db")
    target.begin()
    target.create_table(spec)
    target.commit()
    decoder = RecordDecoder(view.topics, SCHEMAS)
    batches: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []
    for i in range(0, len(messages), BATCH):
        upserts, deletes = [], []
        for message in messages[i : i + BATCH]:
            record = decoder.decode(message)
            assert isinstance(record, ChangeRecord) and record.key is not None
            if record.value is None:
                deletes.append((record.key["id"], bytearray(record.position)))
                continue
            v = record.value
            row = (v["id"], v["name"], v["price"], v["qty"], v["updated"].isoformat())
            upserts.append((*row, bytearray(record.position)))  # as sqlite_params binds it
        batches.append((upserts, deletes))
    upsert, (remember, delete) = upsert_statement(spec), delete_statements(spec)
    start = _clock()
    for upserts, deletes in batches:
        target.begin()
        target.conn.executemany(remember, deletes)
        target.conn.executemany(delete, deletes)
        target.conn.executemany(upsert, upserts)
        target.commit()
    return _since(start)


def kafka_floor(kafka: str, messages: Sequence[Message]) -> tuple[Timing, Timing]:
    """Consuming ``messages`` from a real topic: (consume only, consume and decode)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from strangler.core.kafka import KafkaSettings, consumer_config, producer_config
    from strangler.materializers.config import TopicConfig

    topic = f"bench-consume-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    settings = KafkaSettings(bootstrap_servers=kafka)
    producer = Producer(producer_config(settings, **{"linger.ms": 50}))
    for m in messages:
        while True:
            try:
                producer.produce(topic, m.value(), m.key(), headers=m.headers())
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    timings = []
    for decode in (False, True):
        consumer = Consumer(consumer_config(settings, f"bench-{uuid.uuid4().hex[:8]}"))
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        decoder = RecordDecoder([TopicConfig(topic=topic)], SCHEMAS)
        seen, start = 0, _clock()
        while seen < len(messages):
            batch = consumer.consume(BATCH, 5.0)
            if decode:
                decoder.decode_all(batch)
            seen += len(batch)
        timings.append(_since(start))
        consumer.close()
    admin.delete_topics([topic])
    return timings[0], timings[1]


def bench_latency(kafka: str, seconds: float, tmp: Path) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from strangler.core.kafka import KafkaSettings, producer_config
    from strangler.materializers.runner import ViewRunner
    from strangler.materializers.sqlite_target import SqliteTarget

    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[
        topic
    ].result(30)
    time.sleep(1)
    settings = KafkaSettings(bootstrap_servers=kafka)
    path = tmp / "latency.db"
    view = ViewConfig.model_validate(
        {"name": f"lat-{topic}", "target": {"sqlite": {"path": str(path)}},
         "topics": [{"topic": topic, "table": "products"}], "batch_timeout_ms": 50}
    )  # fmt: skip
    runner = ViewRunner(view, settings, SCHEMAS, SqliteTarget(path))
    added: list[float] = []
    end_to_end: list[float] = []
    handed: dict[int, float] = {}
    added_cpu: list[float] = []
    """CPU time of the runner's thread from hand-over to commit: the work the materializer
    adds, without the time a busy machine (or the producing thread) kept it from a core."""
    handed_cpu: dict[int, float] = {}
    original_poll, original_apply = runner._poll, runner.applier.apply
    fast = runner._fast
    original_committed = fast.committed if fast is not None else None

    def poll() -> Any:  # the records the consumer hands over, before anything is done to them
        messages: list[Any] = original_poll()
        now, now_cpu = time.time(), time.thread_time()
        for message in messages:
            handed[message.offset()] = now
            handed_cpu[message.offset()] = now_cpu
            stamps[message.offset()] = message.timestamp()[1]
        return messages

    def committed(offsets: Any) -> None:
        done, done_cpu = time.time(), time.thread_time()
        for offset in offsets:
            added.append(done - handed.pop(offset))
            added_cpu.append(done_cpu - handed_cpu.pop(offset))
            end_to_end.append(done - stamps.pop(offset) / 1000)

    def apply(batch: Any, prepared: Any = None) -> None:  # the Python path
        original_apply(batch, prepared)
        committed([record.offset for record in batch])

    def committed_fast(offsets: dict[tuple[str, int], int], count: int) -> None:  # fused apply
        assert original_committed is not None
        original_committed(offsets, count)
        (next_offset,) = offsets.values()  # one partition
        committed([offset for offset in list(handed) if offset < next_offset])

    stamps: dict[int, int] = {}
    runner._poll = poll  # type: ignore[method-assign]
    runner.applier.apply = apply  # type: ignore[method-assign]
    if fast is not None:
        fast.committed = committed_fast
    thread = threading.Thread(target=runner.run, kwargs={"idle_exit_s": 3.0})
    thread.start()
    if not runner.assigned.wait(60):
        raise SystemExit("the latency runner got no partitions within 60 s")
    producer = Producer(producer_config(settings, **{"linger.ms": 0}))
    key_schema, value_schema = (
        fastavro.parse_schema(KEY_SCHEMA),
        fastavro.parse_schema(VALUE_SCHEMA),
    )

    def send(i: int) -> None:
        row = {"id": i % 500, "name": "x", "price": 1.0, "qty": i, "updated": None}
        producer.produce(
            topic, encode(2, value_schema, row), encode(1, key_schema, {"id": i % 500}),
            headers=[("op", b"u"), ("position", f"0/{i + 1:X}".encode())],
        )  # fmt: skip
        producer.poll(0)

    # warm-up: one record through the view (its table created, the consumer fetching) before
    # the measured stream, or the first batch holds every record sent during the first fetch
    # and its catch-up dominates the percentiles
    send(0)
    producer.flush(30)
    while not added:
        time.sleep(0.01)
    for values in (added, added_cpu, end_to_end):
        values.clear()
    deadline, i = time.monotonic() + seconds, 1
    while time.monotonic() < deadline:
        send(i)
        i += 1
        time.sleep(0.001)
    producer.flush(30)
    thread.join()
    for label, values in (
        ("added by the materializer", added),
        ("added, runner thread CPU", added_cpu),
        ("end to end", end_to_end),
    ):
        q = statistics.quantiles([v * 1000 for v in values], n=100)
        print(f"latency {label:<30} n={len(values):,} p50={q[49]:.2f} ms p99={q[98]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--bootstrap-keys", type=int, default=1_000_000)
    parser.add_argument("--pg-dsn", default=None)
    parser.add_argument("--kafka", default=None)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        updates = make_messages(args.records, args.keys, distinct=False)
        boot = make_messages(args.bootstrap_keys, 0, distinct=True)
        # the fixtures stand for records librdkafka holds (not objects the collector walks)
        gc.freeze()
        report("decode only", len(updates), decode_only(updates))
        view, open_target = sqlite_target(tmp)
        report(
            "SQLite apply (updates, 5% deletes)",
            len(updates),
            apply_all(view, open_target(), updates),
        )
        view, open_target = sqlite_target(tmp)
        report("SQLite bootstrap (distinct keys)", len(boot), apply_all(view, open_target(), boot))
        if args.pg_dsn:
            for label, messages in (
                ("PostgreSQL apply (updates, 5% deletes)", updates),
                ("PostgreSQL bootstrap (distinct keys)", boot),
            ):
                view, open_target = postgres_target(args.pg_dsn)
                target = open_target()
                report(label, len(messages), apply_all(view, target, messages))
                drop_schema(target, view)
        report("floor: SQLite statements via sqlite3", len(updates), sqlite_floor(tmp, updates))
        if args.kafka:
            consume, consume_decode = kafka_floor(args.kafka, updates)
            report("floor: Kafka consume alone", len(updates), consume)
            report("floor: Kafka consume + decode", len(updates), consume_decode)
            del updates, boot
            gc.unfreeze()
            gc.collect()
            bench_latency(args.kafka, args.latency_seconds, tmp)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
