"""Connector metrics: events/s, lag in bytes and seconds, WAL the slot retains.

``ConnectorMetrics`` counts what the coordinator does; ``slot_lag`` asks the server how far the
slot is behind. ``snapshot()`` gives one flat dict, logged as a structured line periodically.
Commit-to-acknowledgement latencies (microseconds) are kept in a bounded window for the p50/p99
the benchmark reports.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psycopg

from strangler.connectors.postgres.lsn import Lsn

_LAG = """
SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint
FROM pg_catalog.pg_replication_slots WHERE slot_name = %s
"""


@dataclass(slots=True)
class ConnectorMetrics:
    events: int = 0
    transactions: int = 0
    snapshot_rows: int = 0
    confirmed: Lsn | None = None
    started: float = field(default_factory=time.monotonic)
    latencies_us: deque[int] = field(default_factory=lambda: deque(maxlen=200_000))
    """Commit-to-Kafka-acknowledgement latency of recent transactions, microseconds."""
    _unacked: deque[tuple[Lsn, int]] = field(default_factory=deque)

    def published(self, end: Lsn, commit_ts_us: int, events: int) -> None:
        self.transactions += 1
        self.events += events
        self._unacked.append((end, commit_ts_us))

    def acknowledged(self, position: Lsn) -> None:
        """Transactions up to ``position`` are acknowledged by Kafka now."""
        now_us = time.time_ns() // 1000
        while self._unacked and self._unacked[0][0] <= position:
            _, commit_us = self._unacked.popleft()
            self.latencies_us.append(now_us - commit_us)

    def lag_seconds(self) -> float:
        """Age of the oldest published transaction Kafka has not acknowledged."""
        if not self._unacked:
            return 0.0
        return max(time.time() - self._unacked[0][1] / 1e6, 0.0)

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "events": self.events,
            "events_per_s": round(self.events / elapsed, 1),
            "transactions": self.transactions,
            "snapshot_rows": self.snapshot_rows,
            "confirmed_lsn": None if self.confirmed is None else str(self.confirmed),
            "lag_s": round(self.lag_seconds(), 3),
        }


def slot_lag(conn: psycopg.Connection[Any], slot: str) -> dict[str, int | None]:
    """``lag_bytes`` (WAL after the confirmed position) and ``retained_wal_bytes`` (WAL the
    slot keeps from being recycled)."""
    row = conn.execute(_LAG, (slot,)).fetchone()
    if row is None:
        return {"lag_bytes": None, "retained_wal_bytes": None}
    return {"lag_bytes": row[0], "retained_wal_bytes": row[1]}
