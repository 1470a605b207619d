"""Benchmark of the MySQL/MariaDB connector end to end: MariaDB → Kafka (acknowledged), schemas
in the registry.

Phases (each printed with its figure):

1. snapshot: rows/s of the initial snapshot of one ``--rows``-row table, until Kafka
   acknowledged the last chunk (the connector starts streaming);
2. streaming: changes/s of ``--updates`` row updates committed in transactions of 1,000 as fast
   as the server takes them, from the first commit until the stored position (moved only to
   what Kafka acknowledged) passed the last one;
3. latency: commit-to-acknowledgement p50/p99 at ``--rate`` changes/s (transactions of 50,
   evenly spaced, for ``--seconds``). Measured by the benchmark, not from the binlog's commit
   timestamps (whole seconds): each commit's wall-clock time against the moment the connector's
   stored position passed it (stored every 5 ms here);
4. peak RSS of the process (connector and producer; the registry runs elsewhere).

Each phase also prints the process's CPU time per row or change (all threads: connector,
producer, and this script's own load and polling, which are small): on a shared machine the
rates move with the neighbours' load, the CPU per row much less.

Run against the test stack (``STRANGLER_KEEP_STACK=1`` keeps it running), the dev stack
(``eval "$(strangler dev env)"``) or any endpoints:

    .venv/bin/python benchmarks/mysql_connector_bench.py --mysql-url mysql://root@127.0.0.1:56406/ \
        --kafka 127.0.0.1:59192 --registry http://127.0.0.1:58181
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import pymysql
from pydantic import SecretStr

from strangler.connectors.config import SnapshotSettings, TableSelection
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.mysql.connector import MysqlConnector
from strangler.connectors.mysql.positions import BinlogPosition, MariadbGtidPos
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.core.kafka import KafkaSettings


def _settings(source: MysqlSource) -> dict[str, Any]:
    return source.connection_settings()


def _gtids(cur: Any) -> MariadbGtidPos:
    cur.execute("SELECT @@gtid_binlog_pos")
    row = cur.fetchone()
    return MariadbGtidPos.parse(str(row[0] if row else ""))


def _stored(connector: MysqlConnector) -> MariadbGtidPos | None:
    text = connector.metrics.stored
    if text is None:
        return None
    gtids = BinlogPosition.parse(text).gtids
    return gtids if isinstance(gtids, MariadbGtidPos) else None


def _wait_stored(connector: MysqlConnector, target: MariadbGtidPos, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = _stored(connector)
        if stored is not None and target <= stored:
            return time.monotonic()
        time.sleep(0.002)
    raise SystemExit(f"the stored position did not reach {target} in {timeout:.0f} s")


def _load(conn: Any, database: str, rows: int) -> None:
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(
            f"CREATE TABLE `{database}`.items (id INT PRIMARY KEY, name VARCHAR(40), "
            "price DECIMAL(10,2), qty INT, updated TIMESTAMP(6) NULL, note TEXT)"
        )
        batch = 10_000
        for start in range(1, rows + 1, batch):
            values = ", ".join(
                f"({i}, 'item {i}', {i % 10_000}.25, {i % 97}, "
                f"'2024-05-01 10:00:00.{i % 10**6:06d}', 'note {i}')"
                for i in range(start, min(start + batch, rows + 1))
            )
            cur.execute(f"INSERT INTO `{database}`.items VALUES {values}")
        conn.commit()


def _cpu_us(cpu_started: float, count: int) -> str:
    return f"{(time.process_time() - cpu_started) / max(count, 1) * 1e6:.1f} CPU µs each"


def _snapshot_phase(connector: MysqlConnector, rows: int) -> threading.Thread:
    started, cpu = time.monotonic(), time.process_time()
    thread = threading.Thread(target=connector.run, daemon=True)
    thread.start()
    if not connector.streaming.wait(3600):
        raise SystemExit("the snapshot did not end")
    elapsed = time.monotonic() - started
    print(
        f"snapshot: {rows} rows in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s, "
        f"{_cpu_us(cpu, rows)}"
    )
    return thread


def _streaming_phase(connector: MysqlConnector, conn: Any, database: str, updates: int) -> None:
    per_tx = 1_000
    with conn.cursor() as cur:
        started, cpu = time.monotonic(), time.process_time()
        for start in range(0, updates, per_tx):
            low = start % 100_000 + 1
            cur.execute(
                f"UPDATE `{database}`.items SET qty = qty + 1 WHERE id BETWEEN %s AND %s",
                (low, low + per_tx - 1),
            )
            conn.commit()
        target = _gtids(cur)
    done = _wait_stored(connector, target, 600)
    rate = updates / (done - started)
    print(
        f"streaming: {updates} changes in {done - started:.1f} s = {rate:,.0f} changes/s, "
        f"{_cpu_us(cpu, updates)}"
    )


class _AckWatcher(threading.Thread):
    """Follows the connector's stored position every 2 ms; for each recorded commit, the
    seconds until the stored position passed it."""

    def __init__(self, connector: MysqlConnector) -> None:
        super().__init__(daemon=True)
        self._connector = connector
        self._pending: deque[tuple[MariadbGtidPos, float]] = deque()
        self._lock = threading.Lock()
        self.latencies: list[float] = []
        self.halt = threading.Event()

    def committed(self, gtids: MariadbGtidPos, at: float) -> None:
        with self._lock:
            self._pending.append((gtids, at))

    def run(self) -> None:
        while not self.halt.is_set():
            stored = _stored(self._connector)
            now = time.monotonic()
            with self._lock:
                while stored is not None and self._pending and self._pending[0][0] <= stored:
                    self.latencies.append(now - self._pending.popleft()[1])
            time.sleep(0.002)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._pending)


def _latency_phase(
    connector: MysqlConnector, conn: Any, database: str, rate: int, seconds: float
) -> None:
    per_tx = 50
    interval = per_tx / rate
    watcher = _AckWatcher(connector)
    watcher.start()
    with conn.cursor() as cur:
        next_at = time.monotonic()
        end = next_at + seconds
        i = 0
        while time.monotonic() < end:
            low = (i * per_tx) % 100_000 + 1
            cur.execute(
                f"UPDATE `{database}`.items SET price = price + 1 WHERE id BETWEEN %s AND %s",
                (low, low + per_tx - 1),
            )
            conn.commit()
            watcher.committed(_gtids(cur), time.monotonic())
            i += 1
            next_at += interval
            time.sleep(max(next_at - time.monotonic(), 0))
    deadline = time.monotonic() + 60
    while watcher.outstanding() and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.halt.set()
    latencies = watcher.latencies
    p50 = statistics.median(latencies) * 1000
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 1 else p50
    print(f"latency at {rate} changes/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({i} tx)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mysql-url", default=os.environ.get("STRANGLER_MYSQL_URL"))
    parser.add_argument("--kafka", default=os.environ.get("STRANGLER_KAFKA_BOOTSTRAP"))
    parser.add_argument("--registry", default=os.environ.get("STRANGLER_REGISTRY_URL"))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not (args.mysql_url and args.kafka and args.registry):
        parser.error("--mysql-url, --kafka and --registry are required (or STRANGLER_* vars)")
    logging.basicConfig(level=logging.WARNING)
    database = f"bench_{uuid.uuid4().hex[:10]}"
    state = Path(tempfile.mkdtemp(prefix="mysql-bench-"))
    source = MysqlSource.model_validate(
        {
            "name": "bench", "url": SecretStr(args.mysql_url), "server_id": 5_000_000 + os.getpid(),
            "topic_prefix": database, "tables": TableSelection(include=[f"{database}.items"]),
            "snapshot": SnapshotSettings(chunk_rows=20_000), "state_dir": state,
            "store_interval_s": 0.005,
        }
    )  # fmt: skip
    conn = pymysql.connect(**_settings(source), autocommit=False)
    registrar = HttpRegistrar(args.registry)
    kafka = KafkaSettings(bootstrap_servers=args.kafka, partitions=1, replication_factor=1)
    connector = MysqlConnector(source, kafka, registrar)
    try:
        _load(conn, database, args.rows)
        thread = _snapshot_phase(connector, args.rows)
        _streaming_phase(connector, conn, database, args.updates)
        _latency_phase(connector, conn, database, args.rate, args.seconds)
        connector.stop.set()
        thread.join(60)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak_mib:.0f} MiB")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()
        registrar.close()


if __name__ == "__main__":
    main()
