"""Running the registry under uvicorn: in the foreground (``serve``) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from strangler.schema_registry.app import create_app
from strangler.schema_registry.config import RegistrySettings, StorageKind
from strangler.schema_registry.errors import ServiceStartFailed
from strangler.schema_registry.forwarding import WriteForwarder
from strangler.schema_registry.kafka_storage import KafkaStorage
from strangler.schema_registry.leader_election import KafkaLeaderElection
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.sqlite_storage import SqliteStorage


@dataclass
class Instance:
    """One registry instance: its state, its app and, on Kafka, its part in the election."""

    registry: SchemaRegistry
    app: ASGIApp
    election: KafkaLeaderElection | None = None

    def close(self) -> None:
        if self.election is not None:
            self.election.close()
        self.registry.close()


def build_instance(settings: RegistrySettings) -> Instance:
    """Storage, registry and app; on Kafka storage, also join the writer election."""
    if settings.storage is not StorageKind.KAFKA:
        registry = SchemaRegistry(
            SqliteStorage(settings.sqlite_path), max_schema_chars=settings.max_schema_chars
        )
        return Instance(registry, _app(settings, registry, None))
    storage = KafkaStorage(settings.kafka_bootstrap, settings.topic, fenced_writer=True)
    registry = SchemaRegistry(storage, max_schema_chars=settings.max_schema_chars)
    my_url = settings.advertised_url or f"{settings.scheme}://{settings.host}:{settings.port}"
    election = KafkaLeaderElection(
        settings.kafka_bootstrap, settings.topic, settings.group_id, my_url, storage.become_writer
    )
    election.start()
    return Instance(registry, _app(settings, registry, WriteForwarder(election)), election)


def _app(
    settings: RegistrySettings, registry: SchemaRegistry, forwarder: WriteForwarder | None
) -> ASGIApp:
    return create_app(
        registry,
        users=settings.users,
        log_access=settings.access_log,
        incompatible_code=settings.incompatible_error_code,
        forwarder=forwarder,
    )


def uvicorn_config(app: ASGIApp, settings: RegistrySettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,  # ours is structured, from the middleware
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_keep_alive=30,
        backlog=2048,
    )


def serve(settings: RegistrySettings) -> None:
    """Serve until interrupted."""
    instance = build_instance(settings)
    try:
        uvicorn.Server(uvicorn_config(instance.app, settings)).run()
    finally:
        instance.close()


class ServerThread:
    """A registry app served by uvicorn in a background thread on a loopback port."""

    def __init__(self, app: ASGIApp, settings: RegistrySettings | None = None) -> None:
        settings = settings or RegistrySettings(port=0)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((settings.host, settings.port))
        self.port = self._socket.getsockname()[1]
        self.url = f"{settings.scheme}://{settings.host}:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(app, settings))
        self._thread = threading.Thread(target=self._run, name="registry-server", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ServiceStartFailed(f"registry server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
