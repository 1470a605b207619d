"""Which source position may be acknowledged: the newest transaction boundary up to which Kafka
has acknowledged every event.

Deliveries complete out of order (several partitions, retries), so a transaction counts its
outstanding events; the acknowledged position only moves over a prefix of transactions that are
all complete. A failed delivery stops the tracker for good: the connector must restart from the
last acknowledged position rather than skip an event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from strangler.core.errors import StranglerError
from strangler.core.events import Position


class DeliveryFailed(StranglerError):
    """Kafka refused an event; nothing after the last acknowledged position may be confirmed."""

    retriable = True


@dataclass(slots=True)
class PendingTransaction:
    """A transaction whose events are in flight."""

    position: Position
    outstanding: int = 0
    sealed: bool = False


class AckTracker:
    """Counts deliveries per transaction, in source order."""

    def __init__(self, acknowledged: Position | None = None) -> None:
        self._pending: deque[PendingTransaction] = deque()
        self._acknowledged = acknowledged
        self._failure: str | None = None

    def begin(self, position: Position) -> PendingTransaction:
        """Open the next transaction; ``position`` is where the source resumes after it."""
        tx = PendingTransaction(position)
        self._pending.append(tx)
        return tx

    def sent(self, tx: PendingTransaction, count: int = 1) -> None:
        """``count`` more events of ``tx`` handed to the producer."""
        tx.outstanding += count

    def seal(self, tx: PendingTransaction) -> None:
        """All events of ``tx`` have been handed to the producer."""
        tx.sealed = True

    def callback(self, tx: PendingTransaction) -> Callable[[object, object], None]:
        """A producer delivery callback ``(error, message)`` for every event of ``tx``: one per
        transaction, ``delivered`` with a success counted inline (at snapshot rates a second
        call per record costs as much as the rest of the callback)."""

        def on_delivery(error: object, _message: object) -> None:
            if error is None:
                tx.outstanding -= 1
            else:
                self.delivered(tx, str(error))

        return on_delivery

    def delivered(self, tx: PendingTransaction, error: str | None = None) -> None:
        """The delivery callback of one event of ``tx``."""
        tx.outstanding -= 1
        if error is not None and self._failure is None:
            self._failure = f"Kafka did not acknowledge an event before {tx.position}: {error}"

    def acknowledged(self) -> Position | None:
        """The newest position whose transaction, and every one before it, is fully delivered."""
        if self._failure is not None:
            raise DeliveryFailed(
                self._failure,
                fix="restart: streaming resumes from the last "
                "acknowledged position, so nothing is lost",
            )
        while self._pending and self._pending[0].sealed and self._pending[0].outstanding == 0:
            self._acknowledged = self._pending.popleft().position
        return self._acknowledged

    @property
    def in_flight(self) -> int:
        """Transactions not yet acknowledged."""
        return len(self._pending)
