"""PostgreSQL's timestamp epoch: replication messages count microseconds from 2000-01-01 UTC."""

from __future__ import annotations

import time

from strangler.connectors.postgres.messages import PgTimestamp

PG_EPOCH_UNIX_US = 946_684_800_000_000
"""2000-01-01 00:00:00 UTC in microseconds since the Unix epoch."""


def to_unix_us(ts: PgTimestamp) -> int:
    """Microseconds since 1970-01-01 UTC, the unit of ``ChangeEvent.commit_ts_us``."""
    return ts + PG_EPOCH_UNIX_US


def from_unix_us(unix_us: int) -> PgTimestamp:
    return PgTimestamp(unix_us - PG_EPOCH_UNIX_US)


def pg_now() -> PgTimestamp:
    """The current time as PostgreSQL counts it (the standby status update's client clock)."""
    return from_unix_us(time.time_ns() // 1000)
