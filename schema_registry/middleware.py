"""ASGI layer in front of the routes: raw-path routing, negotiation, auth, metrics, access log.

- Routing uses the raw path, so ``/subjects/a%2Fb/versions`` is the subject ``a/b``;
  a trailing slash is accepted, never redirected (Java's HttpURLConnection does not follow a
  307 on POST, and the Java client posts to ``.../versions/``).
- 406 and 415 are answered here, before any route runs, with Confluent's envelope.
- ``GET /schemas/ids/{id}``, the call every deserializer makes, is answered from a cache of
  rendered bodies that is dropped whenever the view changes.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strangler.schema_registry.error_responses import http_error_body
from strangler.schema_registry.forwarding import WriteForwarder
from strangler.schema_registry.metrics import CONTENT_TYPE, RegistryMetrics
from strangler.schema_registry.model import SchemaId
from strangler.schema_registry.negotiation import V1_JSON, request_type_ok, response_type
from strangler.schema_registry.view import RegistryView

MEDIA_TYPE_KEY = "strangler.media_type"
IDS_PREFIX = "/schemas/ids/"
access_log = logging.getLogger("strangler.schema_registry.access")


class SchemaByIdCache:
    """Rendered ``GET /schemas/ids/{id}`` bodies, valid for one generation of the view."""

    def __init__(self, view: RegistryView) -> None:
        self._view = view
        self._generation = -1
        self._bodies: dict[int, bytes] = {}

    def body(self, schema_id: int) -> bytes | None:
        if self._generation != self._view.generation:
            self._bodies, self._generation = {}, self._view.generation
        body = self._bodies.get(schema_id)
        if body is None and self._view.visible(SchemaId(schema_id)):
            body = self._render(schema_id)
            self._bodies[schema_id] = body
        return body

    def _render(self, schema_id: int) -> bytes:
        text = self._view.schemas[SchemaId(schema_id)]
        data: dict[str, Any] = {"schemaType": text.schema_type}
        if text.references:
            data["references"] = [
                {"name": r.name, "subject": r.subject, "version": r.version}
                for r in text.references
            ]
        data["schema"] = text.schema
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class BasicAuth:
    """HTTP basic authentication against a fixed user → password table."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def allows(self, header: bytes | None) -> bool:
        if not header or not header.lower().startswith(b"basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self._users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


class RegistryMiddleware:
    """Everything the registry does per request before and after its route."""

    def __init__(
        self,
        app: ASGIApp,
        view: RegistryView,
        *,
        metrics: RegistryMetrics | None = None,
        auth: BasicAuth | None = None,
        log_access: bool = False,
        forwarder: WriteForwarder | None = None,
    ) -> None:
        self.app = app
        self.forwarder = forwarder
        self.cache = SchemaByIdCache(view)
        self.metrics = metrics
        self.auth = auth
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = await self._handle(scope, receive, send)
        self._record(scope, status, time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> int:
        scope["path"] = raw_route_path(scope)
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await respond(send, refusal[0], refusal[1], V1_JSON, refusal[2])
            return refusal[0]
        if self.forwarder is not None and self.forwarder.should_forward(scope):
            return await self.forwarder.forward(scope, receive, send)
        if scope["path"] == "/metrics" and self.metrics is not None:
            await respond(send, 200, self.metrics.render(), CONTENT_TYPE)
            return 200
        fast = self._fast_schema(scope)
        if fast is not None:
            await respond(send, 200, fast, scope[MEDIA_TYPE_KEY])
            return 200
        return await self._forward(scope, receive, send)

    def _refusal(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        if (
            self.auth is not None
            and scope["path"] != "/health"
            and not self.auth.allows(headers.get(b"authorization"))
        ):
            return 401, http_error_body(401), [(b"www-authenticate", b'Basic realm="strangler"')]
        media_type = response_type(_text(headers.get(b"accept")))
        if media_type is None:
            return 406, http_error_body(406), []
        scope[MEDIA_TYPE_KEY] = media_type
        if scope["method"] in ("POST", "PUT") and not request_type_ok(
            _text(headers.get(b"content-type"))
        ):
            return 415, http_error_body(415), []
        return None

    def _fast_schema(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(IDS_PREFIX):
            return None
        tail = path[len(IDS_PREFIX) :]
        if not (tail.isascii() and tail.isdigit() and len(tail) < 10):
            return None
        return self.cache.body(int(tail))

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> int:
        seen = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
            await send(message)

        await self.app(scope, receive, capture)
        return seen[0]

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(scope["method"], scope["path"], status, seconds)
        if self.log_access:
            client = scope.get("client") or ("-", 0)
            access_log.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(seconds * 1000, 3),
                        "client": client[0],
                    }
                )
            )


def raw_route_path(scope: Scope) -> str:
    """The path as sent (still percent-encoded), without a trailing slash."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    path = path.split("?", 1)[0]
    stripped = path.rstrip("/")
    return stripped or "/"


async def respond(
    send: Send,
    status: int,
    body: bytes,
    media_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
