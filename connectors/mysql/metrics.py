"""Connector metrics of a MySQL/MariaDB source (see connectors/metrics.py), with the stored
position.

Transactions are counted in publication order; ``acknowledged(n)`` says how many of them Kafka
has acknowledged (positions of one MySQL stream are only partially ordered across GTID
domains, a count is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strangler.connectors.metrics import PublishMetrics


@dataclass(slots=True)
class ConnectorMetrics(PublishMetrics):
    stored: str | None = None
    """The last position stored (text form)."""

    def published(self, commit_ts_us: int, events: int) -> None:
        self._publish(None, commit_ts_us, events)

    def acknowledged(self, transactions: int) -> None:
        """``transactions`` more of the published transactions are acknowledged now."""
        self._acknowledge_first(transactions)

    def snapshot(self) -> dict[str, Any]:
        return {**self._figures(), "stored_position": self.stored}
