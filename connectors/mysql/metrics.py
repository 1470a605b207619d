"""Connector metrics: events and transactions published, snapshot rows, the stored position,
commit-to-acknowledgement latency (a bounded window, microseconds, for p50/p99) and lag.

Transactions are counted in publication order; ``acknowledged(n)`` says how many of them Kafka
has acknowledged (positions of one MySQL stream are only partially ordered across GTID
domains, a count is not).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ConnectorMetrics:
    events: int = 0
    transactions: int = 0
    snapshot_rows: int = 0
    stored: str | None = None
    """The last position stored (text form)."""
    started: float = field(default_factory=time.monotonic)
    latencies_us: deque[int] = field(default_factory=lambda: deque(maxlen=200_000))
    """Commit-to-Kafka-acknowledgement latency of recent transactions, microseconds."""
    _unacked: deque[int] = field(default_factory=deque)
    """Commit times (µs) of published transactions not yet acknowledged, in order."""

    def published(self, commit_ts_us: int, events: int) -> None:
        self.transactions += 1
        self.events += events
        self._unacked.append(commit_ts_us)

    def acknowledged(self, transactions: int) -> None:
        """``transactions`` more of the published transactions are acknowledged now."""
        now_us = time.time_ns() // 1000
        for _ in range(min(transactions, len(self._unacked))):
            self.latencies_us.append(now_us - self._unacked.popleft())

    def lag_seconds(self) -> float:
        """Age of the oldest published transaction Kafka has not acknowledged."""
        if not self._unacked:
            return 0.0
        return max(time.time() - self._unacked[0] / 1e6, 0.0)

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "events": self.events,
            "events_per_s": round(self.events / elapsed, 1),
            "transactions": self.transactions,
            "snapshot_rows": self.snapshot_rows,
            "stored_position": self.stored,
            "lag_s": round(self.lag_seconds(), 3),
        }
