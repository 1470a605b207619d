"""Request bodies as clients send them, read leniently where Confluent (Jackson) is lenient.

Unknown fields are ignored (clients send ``metadata``, ``ruleSet``, ``schemaTagsToAdd``...).
Text that is not JSON is 400; JSON of the wrong shape is 422, as Jersey maps Jackson's errors.
"""

from __future__ import annotations

import json
from typing import Any

from strangler.schema_registry.errors import BadRequest, Unprocessable
from strangler.schema_registry.model import AVRO, SchemaId, SchemaReference, Subject, Version
from strangler.schema_registry.negotiation import charset_of
from strangler.schema_registry.registry import SchemaRequest

UNPROCESSABLE = "Unprocessable Entity"


def json_object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON, 422 when it is not an object."""
    try:
        data = json.loads(raw.decode(charset_of(content_type)))
    except (ValueError, LookupError, RecursionError) as exc:
        raise BadRequest(f"Unrecognized request body: {exc}") from exc
    if not isinstance(data, dict):
        raise Unprocessable(UNPROCESSABLE)
    return data


def schema_request(body: dict[str, Any]) -> SchemaRequest:
    return SchemaRequest(
        schema=_text(body.get("schema")),
        references=tuple(_reference(r) for r in _list(body.get("references"))),
        schema_type=_text(body.get("schemaType")) or AVRO,
        schema_id=_optional_int(body.get("id"), SchemaId),
        version=_optional_int(body.get("version"), Version),
    )


def field_text(body: dict[str, Any], *names: str) -> str:
    """The first of ``names`` present in the body, as text ("" when none is)."""
    for name in names:
        if body.get(name) is not None:
            return _text(body[name])
    return ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise Unprocessable(UNPROCESSABLE)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unprocessable(UNPROCESSABLE)
    return value


def _reference(value: Any) -> SchemaReference:
    if not isinstance(value, dict):
        raise Unprocessable(UNPROCESSABLE)
    version = _optional_int(value.get("version"), Version)
    if version is None or not value.get("name") or not value.get("subject"):
        raise Unprocessable(UNPROCESSABLE)
    return SchemaReference(_text(value["name"]), Subject(_text(value["subject"])), version)


def _optional_int(value: Any, kind: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unprocessable(UNPROCESSABLE)
    return None if value < 0 else kind(value)
