"""strangler's own schema registry, on the stack's Kafka (the ``_schemas`` topic)."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from strangler.cli.devstack.errors import ServiceStartFailed
from strangler.cli.devstack.process import ProcessRecord
from strangler.cli.devstack.service import SpawnedService
from strangler.cli.devstack.settings import HOST


class Registry(SpawnedService):
    """``strangler registry serve`` with Kafka storage, run by the current Python."""

    name = "registry"
    depends_on = ("kafka",)

    @property
    def log(self) -> Path:
        return self.home / "registry.log"

    def prepare(self) -> None:
        """Nothing to install: the registry is part of strangler."""

    def endpoint(self) -> str:
        return f"http://{HOST}:{self.settings.registry_port}"

    def env(self) -> dict[str, str]:
        return {"STRANGLER_REGISTRY_URL": self.endpoint()}

    def start(self) -> None:
        if self.pid() is not None:
            return
        self.ensure_ports_free({self.settings.registry_port: "--registry-port"})
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "strangler.cli",
            "registry",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.settings.registry_port),
            "--storage",
            "kafka",
            "--kafka-bootstrap",
            f"{HOST}:{self.settings.kafka_port}",
            "--no-access-log",
        ]
        self._await_ready(self.spawn(argv, self.log))

    def _await_ready(self, pid: int, timeout: float = 60.0) -> None:
        """Ready when it has replayed ``_schemas`` and won the writer election (the only
        instance of the stack): before that, registrations answer 50004 "Unknown leader"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ProcessRecord.of(pid) is None:
                raise ServiceStartFailed(self.name, "the registry exited", self.log)
            if self._is_writer():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceStartFailed(self.name, f"not ready after {timeout:.0f} s", self.log)

    def _is_writer(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint()}/health", timeout=2) as reply:
                return bool(reply.status == 200 and json.load(reply).get("writer"))
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return False
