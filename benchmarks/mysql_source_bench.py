"""MySQL/MariaDB source benchmark: snapshot rows/s, streaming changes/s, live latency, peak RSS.

    .venv/bin/python benchmarks/mysql_source_bench.py \
        --url mysql://strangler:strangler@127.0.0.1:3306/ \
        [--rows 1000000] [--changes 200000] [--chunk-rows 10000]

(``--url`` defaults to ``$STRANGLER_MYSQL_URL``.) It creates the database ``strangler_bench``
(dropped first), loads ``--rows`` rows, then measures:

1. snapshot: ``SnapshotReader`` reading the whole table in key chunks into ChangeEvents
   (rows/s; p50/p99 of the time per chunk);
2. streaming catch-up: ``--changes`` updated rows (1 000 per transaction) decoded from the binlog
   into ChangeEvents by ``BinlogSource`` (changes/s);
3. live latency: single-row transactions committed while a blocking ``BinlogSource`` reads;
   latency = event decoded - commit returned (p50/p99);
and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import threading
import time
from typing import Any

import pymysql

from strangler.cli.devstack.smoke import mysql_settings
from strangler.connectors.mysql.positions import BinlogPosition, parse_gtids
from strangler.connectors.mysql.snapshot import SnapshotReader
from strangler.connectors.mysql.stream import BinlogSource
from strangler.core.events import TableId

DB = "strangler_bench"
TABLE = TableId(DB, "items")


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _connect(settings: dict[str, Any]) -> pymysql.Connection[Any]:
    return pymysql.connect(**settings, autocommit=True)


def _row(i: int) -> str:
    return f"({i}, {i % 1000}, 'item-{i}', {i % 10000}.25, '2024-01-01 00:00:00.{i % 999999:06d}')"


def _load(settings: dict[str, Any], rows: int) -> None:
    conn = _connect(settings)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(
            f"CREATE TABLE {DB}.items (id bigint PRIMARY KEY, qty int, name varchar(32), "
            "price decimal(10,2), updated datetime(6))"
        )
        batch = 5_000
        for start in range(0, rows, batch):
            values = ",".join(_row(i) for i in range(start, min(rows, start + batch)))
            cur.execute(f"INSERT INTO {DB}.items VALUES {values}")
    conn.close()


def _position(settings: dict[str, Any]) -> BinlogPosition:
    conn = _connect(settings)
    with conn.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        row = cur.fetchone()
    conn.close()
    return BinlogPosition(parse_gtids(str(row[0] if row else "")))


def bench_snapshot(settings: dict[str, Any], chunk_rows: int) -> None:
    chunk_times: list[float] = []
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    with SnapshotReader(settings, chunk_rows=chunk_rows) as snapshot:
        codec = snapshot.describe(TABLE)
        last = time.perf_counter()
        for chunk in snapshot.read(codec):
            count += len(chunk.rows)
            now = time.perf_counter()
            chunk_times.append(now - last)
            last = now
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"snapshot: {count} rows in {elapsed:.2f} s = {count / elapsed:,.0f} rows/s "
        f"({count / cpu:,.0f} rows per CPU-second of this process); "
        f"per {chunk_rows}-row chunk p50 {_percentile(chunk_times, 50) * 1000:.1f} ms, "
        f"p99 {_percentile(chunk_times, 99) * 1000:.1f} ms"
    )


def bench_stream(settings: dict[str, Any], changes: int) -> None:
    start = _position(settings)
    conn = _connect(settings)
    with conn.cursor() as cur:
        for low in range(0, changes, 1000):
            cur.execute(
                f"UPDATE {DB}.items SET qty = qty + 1 WHERE id >= %s AND id < %s", (low, low + 1000)
            )
    conn.close()
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    with BinlogSource(
        settings, server_id=random.randint(10**6, 2**31), start=start, schemas=[DB], blocking=False
    ) as source:
        for tx in source.transactions():
            count += len(tx.events)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"streaming catch-up: {count} changes in {elapsed:.2f} s = {count / elapsed:,.0f} "
        f"changes/s ({count / cpu:,.0f} per CPU-second of this process)"
    )


def bench_latency(settings: dict[str, Any], transactions: int) -> None:
    start = _position(settings)
    committed: dict[int, float] = {}
    latencies: list[float] = []
    base = 10**12

    def write() -> None:
        conn = _connect(settings)
        with conn.cursor() as cur:
            for i in range(transactions):
                cur.execute(
                    f"INSERT INTO {DB}.items VALUES (%s, 1, 'live', 1.00, NOW(6))", (base + i,)
                )
                committed[base + i] = time.perf_counter()
                time.sleep(0.002)
        conn.close()

    source = BinlogSource(
        settings, server_id=random.randint(10**6, 2**31), start=start, schemas=[DB]
    )
    writer = threading.Thread(target=write)
    writer.start()
    try:
        for tx in source.transactions():
            arrived = time.perf_counter()
            for event in tx.events:
                key = int((event.key or {})["id"])
                latencies.append(arrived - committed.get(key, arrived))
            if len(latencies) >= transactions:
                break
    finally:
        writer.join()
        source.close()
    print(
        f"live latency over {len(latencies)} single-row transactions: "
        f"p50 {_percentile(latencies, 50) * 1000:.2f} ms, "
        f"p99 {_percentile(latencies, 99) * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("STRANGLER_MYSQL_URL"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--latency-transactions", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the strangler_bench database")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url mysql://user:password@host:port/ or set STRANGLER_MYSQL_URL")
    settings = dict(mysql_settings(args.url))
    loaded = time.perf_counter()
    _load(settings, args.rows)
    print(f"loaded {args.rows} rows in {time.perf_counter() - loaded:.1f} s")
    bench_snapshot(settings, args.chunk_rows)
    bench_stream(settings, min(args.changes, args.rows))
    bench_latency(settings, args.latency_transactions)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kib / 1024:.0f} MiB")
    if not args.keep:
        conn = _connect(settings)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.close()


if __name__ == "__main__":
    main()
