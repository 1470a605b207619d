"""The one table from errors to HTTP responses: Confluent's envelope ``{error_code, message}``.

Registry errors carry their Confluent code; their HTTP status comes from the family they belong
to, looked up here along the class hierarchy. The framework's own failures (unknown route,
wrong method, negotiation) use the bare status as the code, with Jersey's messages.
"""

from __future__ import annotations

import json

from strangler.schema_registry.errors import (
    BadRequest,
    IncompatibleSchema,
    NotFound,
    RegistryError,
    Unprocessable,
)

STATUS_BY_FAMILY: dict[type[RegistryError], int] = {
    BadRequest: 400,
    NotFound: 404,
    IncompatibleSchema: 409,
    Unprocessable: 422,
    RegistryError: 500,
}

HTTP_MESSAGES = {
    400: "HTTP 400 Bad Request",
    401: "Unauthorized",
    404: "HTTP 404 Not Found",
    405: "HTTP 405 Method Not Allowed",
    406: "HTTP 406 Not Acceptable",
    415: "HTTP 415 Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def status_of(error: RegistryError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_FAMILY:
            return STATUS_BY_FAMILY[cls]
    return 500


def error_code_of(error: RegistryError, incompatible_code: int = 409) -> int:
    """Confluent's code; 409 for incompatibility up to CP 8.1 (40901 since 8.2, configurable)."""
    return incompatible_code if isinstance(error, IncompatibleSchema) else error.error_code


def envelope(error_code: int, message: str) -> bytes:
    body = {"error_code": error_code, "message": message}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def registry_error_body(error: RegistryError, incompatible_code: int = 409) -> tuple[int, bytes]:
    return status_of(error), envelope(error_code_of(error, incompatible_code), error.message)


def http_error_body(status: int, message: str | None = None) -> bytes:
    return envelope(status, message or HTTP_MESSAGES.get(status, f"HTTP {status}"))
