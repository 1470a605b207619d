"""What both connectors count: events, transactions and snapshot rows published, the
commit-to-acknowledgement latency of recent transactions (a bounded window, microseconds, for
p50/p99) and the age of the oldest transaction Kafka has not acknowledged.

Each engine's metrics (connectors/postgres/metrics.py, connectors/mysql/metrics.py) say when a
transaction counts as acknowledged and which stored position they show; the rest is here.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PublishMetrics:
    events: int = 0
    transactions: int = 0
    snapshot_rows: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies_us: deque[int] = field(default_factory=lambda: deque(maxlen=200_000))
    """Commit-to-Kafka-acknowledgement latency of recent transactions, microseconds."""
    _unacked: deque[tuple[Any, int]] = field(default_factory=deque)
    """(engine's mark, commit time µs) of published transactions not yet acknowledged."""

    def _publish(self, mark: Any, commit_ts_us: int, events: int) -> None:
        self.transactions += 1
        self.events += events
        self._unacked.append((mark, commit_ts_us))

    def _acknowledge_first(self, transactions: int) -> None:
        """The oldest ``transactions`` unacknowledged ones are acknowledged now."""
        now_us = time.time_ns() // 1000
        for _ in range(min(transactions, len(self._unacked))):
            self.latencies_us.append(now_us - self._unacked.popleft()[1])

    def lag_seconds(self) -> float:
        """Age of the oldest published transaction Kafka has not acknowledged."""
        if not self._unacked:
            return 0.0
        return max(time.time() - self._unacked[0][1] / 1e6, 0.0)

    def _figures(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return {
            "events": self.events,
            "events_per_s": round(self.events / elapsed, 1),
            "transactions": self.transactions,
            "snapshot_rows": self.snapshot_rows,
            "lag_s": round(self.lag_seconds(), 3),
        }
