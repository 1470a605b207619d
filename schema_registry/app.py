"""The registry's ASGI application: routes, the error table's handlers and the middleware."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from strangler.schema_registry.error_responses import http_error_body, registry_error_body
from strangler.schema_registry.errors import RegistryError
from strangler.schema_registry.forwarding import WriteForwarder
from strangler.schema_registry.metrics import RegistryMetrics
from strangler.schema_registry.middleware import MEDIA_TYPE_KEY, BasicAuth, RegistryMiddleware
from strangler.schema_registry.negotiation import V1_JSON
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.routes import router

log = logging.getLogger(__name__)


def create_app(
    registry: SchemaRegistry,
    *,
    users: Mapping[str, str] | None = None,
    log_access: bool = False,
    metrics: bool = True,
    incompatible_code: int = 409,
    forwarder: WriteForwarder | None = None,
) -> ASGIApp:
    """The full registry app, ready for uvicorn."""
    api = FastAPI(
        title="strangler schema registry",
        version="0.1.0",
        description="Confluent Schema Registry compatible REST API (Avro).",
        docs_url=None,
        redoc_url=None,
    )
    api.router.redirect_slashes = False
    api.state.registry = registry
    api.state.incompatible_code = incompatible_code
    api.state.leadership = None if forwarder is None else forwarder.leadership
    api.include_router(router)
    _add_error_handlers(api)
    return RegistryMiddleware(
        api,
        registry.view,
        metrics=RegistryMetrics(registry.view) if metrics else None,
        auth=BasicAuth(users) if users else None,
        log_access=log_access,
        forwarder=forwarder,
    )


def _add_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(RegistryError, _registry_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(Exception, _unexpected_error)


def _media_type(request: Request) -> str:
    media_type: str = request.scope.get(MEDIA_TYPE_KEY, V1_JSON)
    return media_type


async def _registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    status, body = registry_error_body(exc, request.app.state.incompatible_code)
    return Response(body, status, media_type=_media_type(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return Response(
        http_error_body(exc.status_code), exc.status_code, media_type=_media_type(request)
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    return Response(http_error_body(422), 422, media_type=_media_type(request))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
    return Response(http_error_body(500), 500, media_type=_media_type(request))
