"""A real registry server (uvicorn on a loopback port, SQLite storage) for HTTP-level tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strangler.schema_registry.app import create_app
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.server import ServerThread
from strangler.schema_registry.sqlite_storage import SqliteStorage

V1 = "application/vnd.schemaregistry.v1+json"


class Api:
    """httpx against the server, sending bodies the way Confluent's clients do."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._send("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._send("PUT", path, body, **kwargs)

    def _send(self, method: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        content = body if isinstance(body, bytes | str) else json.dumps(body)
        headers = {"Content-Type": V1, **kwargs.pop("headers", {})}
        return self.http.request(method, path, content=content, headers=headers, **kwargs)

    def register(self, subject: str, schema: Any, **extra: Any) -> httpx.Response:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.post(f"/subjects/{subject}/versions", {"schema": text, **extra})


def expect_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code, body
    return body


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(SqliteStorage(tmp_path / "schemas.db"), max_schema_chars=200_000)
    yield reg
    reg.close()


@pytest.fixture
def server(registry: SchemaRegistry) -> Iterator[ServerThread]:
    thread = ServerThread(create_app(registry)).start()
    yield thread
    thread.stop()


@pytest.fixture
def api(server: ServerThread) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    client.http.close()
