"""A follower's writes go to the elected writer over HTTP, as in Confluent's ``registerOrForward``.

Only real writes are forwarded (register, deletes, config and mode changes); lookups and
compatibility checks are POSTs that read, and are answered locally. The writer's answer is
relayed unchanged. No writer known: 50004; writer unreachable: 50003 (both retriable).
"""

from __future__ import annotations

import re
from typing import Protocol

import httpx
from starlette.types import Receive, Scope, Send

from strangler.schema_registry.error_responses import registry_error_body
from strangler.schema_registry.errors import ForwardingFailed, RegistryError, UnknownLeader

_WRITE_PATHS = re.compile(r"^/(subjects/[^/]+/versions|config(/[^/]+)?|mode(/[^/]+)?)$")
_HOP_HEADERS = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding"})


class Leadership(Protocol):
    is_leader: bool
    leader_url: str | None


def is_write(method: str, path: str) -> bool:
    if method == "DELETE":
        return True
    if method == "PUT":
        return bool(_WRITE_PATHS.match(path))
    return method == "POST" and path.startswith("/subjects/") and path.endswith("/versions")


class WriteForwarder:
    """Sends a follower's write requests to the writer and relays the answer."""

    def __init__(self, leadership: Leadership, timeout_s: float = 35.0) -> None:
        self.leadership = leadership
        self._http = httpx.AsyncClient(timeout=timeout_s)

    def should_forward(self, scope: Scope) -> bool:
        return not self.leadership.is_leader and is_write(scope["method"], scope["path"])

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> int:
        leader = self.leadership.leader_url
        if leader is None:
            return await _error(send, UnknownLeader("Unknown leader"))
        try:
            answer = await self._http.request(
                scope["method"],
                _target(leader, scope),
                content=await _body(receive),
                headers=[(k, v) for k, v in scope["headers"] if k not in _HOP_HEADERS],
            )
        except httpx.HTTPError as exc:
            failure = ForwardingFailed(f"Error while forwarding the request to the leader: {exc}")
            return await _error(send, failure)
        await _relay(send, answer)
        return answer.status_code


def _target(leader: str, scope: Scope) -> str:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return (
        leader.rstrip("/")
        + raw.decode("latin-1")
        + (("?" + query.decode("latin-1")) if query else "")
    )


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _relay(send: Send, answer: httpx.Response) -> None:
    content_type = answer.headers.get("content-type", "application/vnd.schemaregistry.v1+json")
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(answer.content)).encode()),
    ]
    await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": answer.content})


async def _error(send: Send, error: RegistryError) -> int:
    status, body = registry_error_body(error)
    headers = [
        (b"content-type", b"application/vnd.schemaregistry.v1+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status
