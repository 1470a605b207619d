"""Running the registry under uvicorn: in the foreground (``serve``) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from strangler.schema_registry.app import create_app
from strangler.schema_registry.config import RegistrySettings, StorageKind
from strangler.schema_registry.errors import ServiceStartFailed
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.sqlite_storage import SqliteStorage
from strangler.schema_registry.storage import Storage


def open_storage(settings: RegistrySettings) -> Storage:
    if settings.storage is StorageKind.KAFKA:
        from strangler.schema_registry.kafka_storage import KafkaStorage

        return KafkaStorage(settings.kafka_bootstrap, settings.topic)
    return SqliteStorage(settings.sqlite_path)


def build_app(settings: RegistrySettings, registry: SchemaRegistry) -> ASGIApp:
    return create_app(
        registry,
        users=settings.users,
        log_access=settings.access_log,
        incompatible_code=settings.incompatible_error_code,
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
    registry = SchemaRegistry(open_storage(settings), max_schema_chars=settings.max_schema_chars)
    try:
        uvicorn.Server(uvicorn_config(build_app(settings, registry), settings)).run()
    finally:
        registry.close()


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
