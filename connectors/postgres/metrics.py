"""Connector metrics: events/s, lag in bytes and seconds, WAL the slot retains.

``ConnectorMetrics`` counts what the coordinator does; ``slot_lag`` asks the server how far the
slot is behind. ``snapshot()`` gives one flat dict, logged as a structured line periodically.
What both connectors count (events, latencies for the benchmark's p50/p99, unacknowledged
age) is ``connectors.metrics.PublishMetrics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from strangler.connectors.metrics import PublishMetrics
from strangler.connectors.postgres.lsn import Lsn

_LAG = """
SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint
FROM pg_catalog.pg_replication_slots WHERE slot_name = %s
"""


@dataclass(slots=True)
class ConnectorMetrics(PublishMetrics):
    confirmed: Lsn | None = None

    def published(self, end: Lsn, commit_ts_us: int, events: int) -> None:
        self._publish(end, commit_ts_us, events)

    def acknowledged(self, position: Lsn) -> None:
        """Transactions up to ``position`` are acknowledged by Kafka now."""
        count = 0
        for end, _commit_us in self._unacked:
            if end > position:
                break
            count += 1
        self._acknowledge_first(count)

    def snapshot(self) -> dict[str, Any]:
        confirmed = None if self.confirmed is None else str(self.confirmed)
        return {**self._figures(), "confirmed_lsn": confirmed}


def slot_lag(conn: psycopg.Connection[Any], slot: str) -> dict[str, int | None]:
    """``lag_bytes`` (WAL after the confirmed position) and ``retained_wal_bytes`` (WAL the
    slot keeps from being recycled)."""
    row = conn.execute(_LAG, (slot,)).fetchone()
    if row is None:
        return {"lag_bytes": None, "retained_wal_bytes": None}
    return {"lag_bytes": row[0], "retained_wal_bytes": row[1]}
