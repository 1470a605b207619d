"""A connector running in a thread of its own, for the connector integration tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


class Runnable(Protocol):
    def run(self) -> None: ...


class RunningConnector:
    """Runs ``connector.run()`` in a daemon thread until ``stop`` is set; its error, if any, is
    handed to the test thread by ``finish``/``join``; ``close`` runs once the thread ended."""

    def __init__(
        self, connector: Runnable, stop: threading.Event, close: Callable[[], None] = lambda: None
    ) -> None:
        self.stop = stop
        self._close = close
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(connector,), daemon=True)
        self._thread.start()

    def _run(self, connector: Runnable) -> None:
        try:
            connector.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc

    def finish(self, timeout: float = 60) -> None:
        self.stop.set()
        self.join(timeout)
        if self.error is not None:
            raise self.error

    def join(self, timeout: float = 60) -> BaseException | None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "connector did not stop"
        self._close()
        return self.error
