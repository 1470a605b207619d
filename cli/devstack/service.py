"""What every service of the local stack offers to ``up``, ``down``, ``status`` and ``env``."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from strangler.cli.devstack.errors import ServiceStartFailed
from strangler.cli.devstack.process import ProcessRecord, port_open, spawn, terminate
from strangler.cli.devstack.settings import StackSettings


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``strangler dev status``."""

    name: str
    running: bool
    endpoint: str
    pid: int | None
    log: str


class Service(ABC):
    """A real server on loopback, started from the system's packages or from jars."""

    name: str
    depends_on: tuple[str, ...] = ()
    """Services that must run first."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings

    @property
    def home(self) -> Path:
        return self.settings.base_dir / self.name

    @property
    @abstractmethod
    def log(self) -> Path:
        """The server's own log file."""

    @abstractmethod
    def prepare(self) -> None:
        """Check that the programs exist and fetch what is needed, without starting anything."""

    @abstractmethod
    def pid(self) -> int | None:
        """The pid of our running server, None when it is not running."""

    @abstractmethod
    def start(self) -> None:
        """Start the server and wait until a real client call succeeds."""

    @abstractmethod
    def stop(self) -> None:
        """Stop our server (only ours), waiting until it has exited."""

    @abstractmethod
    def endpoint(self) -> str:
        """How clients reach it (a DSN, URL or bootstrap address)."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that point strangler and its tests at this service."""

    def status(self) -> ServiceStatus:
        pid = self.pid()
        return ServiceStatus(self.name, pid is not None, self.endpoint(), pid, str(self.log))

    def ensure_ports_free(self, ports: dict[int, str]) -> None:
        """Fail before starting if another program holds a port (port -> option to change it)."""
        for port, option in ports.items():
            if port_open(port):
                raise ServiceStartFailed(
                    self.name,
                    f"port {port} is in use by another program (choose another with {option})",
                    None,
                )


class SpawnedService(Service):
    """A server we start directly: we record its pid and start time, and stop only that."""

    @property
    def record_file(self) -> Path:
        return self.home / "process.json"

    def recorded(self) -> ProcessRecord | None:
        try:
            return ProcessRecord(**json.loads(self.record_file.read_text()))
        except FileNotFoundError:
            return None

    def pid(self) -> int | None:
        record = self.recorded()
        return record.pid if record is not None and record.alive() else None

    def spawn(self, argv: Sequence[str], log: Path) -> int:
        """Start the server process in the background and remember it; returns its pid."""
        proc = spawn(argv, log)
        record = ProcessRecord.of(proc.pid)
        if record is not None:
            self.record_file.write_text(json.dumps(record.to_json()))
        return proc.pid

    def stop(self) -> None:
        record = self.recorded()
        if record is not None:
            terminate(record, timeout=60)
            self.record_file.unlink(missing_ok=True)
