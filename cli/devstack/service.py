"""What every service of the local stack offers to ``up``, ``down``, ``status`` and ``env``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

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
