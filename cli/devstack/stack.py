"""The local stack as a whole: which services, in which order, and their shared state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from strangler.cli.devstack.errors import DevStackError
from strangler.cli.devstack.kafka import Kafka
from strangler.cli.devstack.mariadb import MariaDB
from strangler.cli.devstack.postgres import Postgres
from strangler.cli.devstack.registry import Registry
from strangler.cli.devstack.service import Service, ServiceStatus
from strangler.cli.devstack.settings import StackSettings

SERVICE_TYPES: tuple[type[Service], ...] = (Postgres, MariaDB, Kafka, Registry)
SERVICE_NAMES = tuple(t.name for t in SERVICE_TYPES)

Report = Callable[[str], None]


@dataclass(frozen=True)
class StartResult:
    """What ``up`` did for one service."""

    name: str
    started: bool
    seconds: float


class Stack:
    """PostgreSQL, MariaDB and Kafka of one data directory."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.services = {t.name: t(settings) for t in SERVICE_TYPES}

    def select(self, names: Iterable[str] | None, *, dependents: bool = False) -> list[Service]:
        """The named services (all when none are named) in start order, with what they depend
        on, or, with ``dependents``, with what depends on them (stopping Kafka stops the
        registry first)."""
        if not names:
            return list(self.services.values())
        unknown = [n for n in names if n not in self.services]
        if unknown:
            raise DevStackError(
                f"unknown service {', '.join(unknown)}",
                fix=f"choose from {', '.join(SERVICE_NAMES)}",
            )
        wanted = set(names)
        for service in self.services.values():
            if dependents and wanted & set(service.depends_on):
                wanted.add(service.name)
            if not dependents and service.name in wanted:
                wanted.update(service.depends_on)
        return [s for s in self.services.values() if s.name in wanted]

    def prepare(self, names: Iterable[str] | None = None) -> None:
        """Check every prerequisite first, so a missing one fails before anything starts."""
        for service in self.select(names):
            service.prepare()

    def up(
        self, names: Iterable[str] | None = None, report: Report | None = None
    ) -> list[StartResult]:
        """Start what is not running; a second ``up`` does nothing."""
        self.prepare(names)
        self.settings.save()
        results = []
        for service in self.select(names):
            began = time.monotonic()
            running = service.pid() is not None
            if not running:
                if report:
                    report(f"starting {service.name} ...")
                service.start()
            results.append(StartResult(service.name, not running, time.monotonic() - began))
        return results

    def down(self, names: Iterable[str] | None = None) -> list[str]:
        """Stop the services this stack started (in reverse order); returns their names."""
        stopped = []
        for service in reversed(self.select(names, dependents=True)):
            if service.pid() is not None:
                service.stop()
                stopped.append(service.name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        return [s.status() for s in self.services.values()]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for service in self.services.values():
            out.update(service.env())
        return out
