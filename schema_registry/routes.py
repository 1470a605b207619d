"""The Confluent REST resources: thin handlers that parse, call the registry and render.

Paths arrive still percent-encoded (the middleware routes on the raw path, so a subject may
contain an encoded ``/``); every path parameter is decoded exactly once here. Errors are raised,
never rendered here: the app's handlers turn them into responses through one table.
Writes run in a worker thread because they wait for the storage log to read them back.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from strangler.schema_registry.compatibility import CompatibilityResult
from strangler.schema_registry.errors import (
    InvalidCompatibilityLevel,
    InvalidMode,
    InvalidSchema,
    NotFound,
    SchemaNotFound,
)
from strangler.schema_registry.identifiers import parse_version
from strangler.schema_registry.model import (
    AVRO,
    CompatibilityLevel,
    Mode,
    SchemaId,
    SchemaText,
    Subject,
    SubjectVersion,
)
from strangler.schema_registry.negotiation import V1_JSON
from strangler.schema_registry.registry import SchemaRegistry
from strangler.schema_registry.request_bodies import field_text, json_object, schema_request

router = APIRouter()
MEDIA_TYPE_KEY = "strangler.media_type"
MAX_JAVA_INT = 2**31 - 1


# -- rendering and request helpers ----------------------------------------------------------------


def reply(request: Request, data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status, media_type=request.scope.get(MEDIA_TYPE_KEY, V1_JSON))


def registry_of(request: Request) -> SchemaRegistry:
    registry: SchemaRegistry = request.app.state.registry
    return registry


def subject_param(raw: str) -> Subject:
    return Subject(unquote_to_bytes(raw).decode("utf-8", errors="replace"))


def id_param(raw: str) -> SchemaId:
    """Jersey answers a path id that is not a Java int with a plain 404."""
    text = unquote_to_bytes(raw).decode("utf-8", errors="replace")
    try:
        number = int(text)
    except ValueError:
        raise NotFound("HTTP 404 Not Found") from None
    if abs(number) > MAX_JAVA_INT:
        raise NotFound("HTTP 404 Not Found")
    return SchemaId(number)


def flag(request: Request, *names: str) -> bool:
    for name in names:
        value = request.query_params.get(name)
        if value is not None:
            return value.strip().lower() == "true"
    return False


def int_query(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise NotFound("HTTP 404 Not Found") from None


def page(request: Request, items: list[Any]) -> list[Any]:
    offset = max(int_query(request, "offset", 0), 0)
    limit = int_query(request, "limit", -1)
    return items[offset:] if limit <= 0 else items[offset : offset + limit]


async def body_of(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), request.headers.get("content-type"))


def schema_json(text: SchemaText) -> dict[str, Any]:
    data: dict[str, Any] = {"schemaType": text.schema_type}
    if text.references:
        data["references"] = [
            {"name": r.name, "subject": r.subject, "version": r.version} for r in text.references
        ]
    data["schema"] = text.schema
    return data


def version_json(registry: SchemaRegistry, entry: SubjectVersion) -> dict[str, Any]:
    text = registry.view.schemas[entry.schema_id]
    data = {"subject": entry.subject, "version": entry.version, "id": entry.schema_id}
    return {**data, **schema_json(text)}


def compatibility_json(result: CompatibilityResult, verbose: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"is_compatible": result.is_compatible}
    if verbose:
        data["messages"] = list(result.messages)
    return data


# -- root and metadata ----------------------------------------------------------------------------


@router.get("/")
@router.post("/")
async def root(request: Request) -> Response:
    return reply(request, {})


@router.get("/v1/metadata/id")
async def metadata_id(request: Request) -> Response:
    clusters = {"kafka-cluster": "strangler", "schema-registry-cluster": "strangler-registry"}
    return reply(request, {"scope": {"path": [], "clusters": clusters}})


@router.get("/v1/metadata/version")
async def metadata_version(request: Request) -> Response:
    return reply(request, {"version": "7.9.0", "commitId": "strangler"})


@router.get("/health")
async def health(request: Request) -> Response:
    """Ours, not Confluent's: ``writer`` tells whether this instance is the elected writer."""
    leadership = request.app.state.leadership
    writer = True if leadership is None else bool(leadership.is_leader)
    return reply(request, {"status": "UP", "writer": writer})


# -- subjects -------------------------------------------------------------------------------------


@router.get("/subjects")
async def list_subjects(request: Request) -> Response:
    """Query: subjectPrefix (or subject), deleted, deletedOnly (or deleted_only), offset, limit."""
    prefix = request.query_params.get("subjectPrefix") or request.query_params.get("subject") or ""
    subjects = registry_of(request).subjects(
        prefix="" if prefix == ":*:" else prefix,
        deleted=flag(request, "deleted"),
        deleted_only=flag(request, "deletedOnly", "deleted_only"),
    )
    return reply(request, page(request, subjects))


@router.post("/subjects/{subject}")
async def lookup_schema(request: Request, subject: str) -> Response:
    """Query: deleted (also look among soft-deleted versions), normalize."""
    registry = registry_of(request)
    wanted = schema_request(await body_of(request))
    entry = registry.lookup(subject_param(subject), wanted, deleted=flag(request, "deleted"))
    return reply(request, version_json(registry, entry))


@router.delete("/subjects/{subject}")
async def delete_subject(request: Request, subject: str) -> Response:
    """Query: permanent (only after a soft delete)."""
    registry, permanent = registry_of(request), flag(request, "permanent")
    deleted = await run_in_threadpool(
        registry.delete_subject, subject_param(subject), permanent=permanent
    )
    return reply(request, deleted)


@router.get("/subjects/{subject}/metadata")
async def latest_with_metadata(request: Request, subject: str) -> Response:
    """Query: key/value pairs the version's metadata must hold, deleted. This registry keeps no
    metadata, so any key or value asked for matches nothing (40403); none asked: the latest."""
    registry = registry_of(request)
    entry = registry.version(subject_param(subject), "latest", deleted=flag(request, "deleted"))
    if request.query_params.getlist("key") or request.query_params.getlist("value"):
        raise SchemaNotFound()
    return reply(request, version_json(registry, entry))


# -- subject versions -----------------------------------------------------------------------------


@router.get("/subjects/{subject}/versions")
async def list_versions(request: Request, subject: str) -> Response:
    """Query: deleted, deletedOnly, deletedAsNegative, offset, limit."""
    only, negative = flag(request, "deletedOnly"), flag(request, "deletedAsNegative")
    deleted = flag(request, "deleted") or only or negative
    entries = registry_of(request).live_versions(subject_param(subject), deleted=deleted)
    entries = [e for e in entries if e.deleted or not only]
    numbers = [-e.version if negative and e.deleted else e.version for e in entries]
    return reply(request, page(request, numbers))


@router.post("/subjects/{subject}/versions")
async def register_schema(request: Request, subject: str) -> Response:
    """Query: force (skip the compatibility check), normalize. Idempotent."""
    registry, wanted = registry_of(request), schema_request(await body_of(request))
    force = flag(request, "force")
    registered = await run_in_threadpool(
        registry.register, subject_param(subject), wanted, force=force
    )
    return reply(request, {"id": registered.schema_id})


@router.get("/subjects/{subject}/versions/{version}")
async def get_version(request: Request, subject: str, version: str) -> Response:
    """Version: 1..2^31-1, latest or -1. Query: deleted."""
    registry = registry_of(request)
    entry = registry.version(
        subject_param(subject), parse_version(version), deleted=flag(request, "deleted")
    )
    return reply(request, version_json(registry, entry))


@router.get("/subjects/{subject}/versions/{version}/schema")
async def get_version_schema(request: Request, subject: str, version: str) -> Response:
    registry = registry_of(request)
    entry = registry.version(
        subject_param(subject), parse_version(version), deleted=flag(request, "deleted")
    )
    body = registry.view.schemas[entry.schema_id].schema.encode()
    return Response(body, media_type=request.scope.get(MEDIA_TYPE_KEY, V1_JSON))


@router.get("/subjects/{subject}/versions/{version}/referencedby")
async def referenced_by(request: Request, subject: str, version: str) -> Response:
    registry = registry_of(request)
    entry = registry.version(subject_param(subject), parse_version(version), deleted=True)
    return reply(request, page(request, registry.referenced_by(entry)))


@router.delete("/subjects/{subject}/versions/{version}")
async def delete_version(request: Request, subject: str, version: str) -> Response:
    """Query: permanent (only after a soft delete)."""
    registry, spec, permanent = (
        registry_of(request),
        parse_version(version),
        flag(request, "permanent"),
    )
    number = await run_in_threadpool(
        registry.delete_version, subject_param(subject), spec, permanent=permanent
    )
    return reply(request, number)


# -- schemas --------------------------------------------------------------------------------------


@router.get("/schemas/ids/{schema_id}")
async def get_schema(request: Request, schema_id: str) -> Response:
    """Query: subject (accepted; ids are global in the default context), format, fetchMaxId."""
    text = registry_of(request).schema_by_id(id_param(schema_id))
    return reply(request, schema_json(text))


@router.get("/schemas/ids/{schema_id}/schema")
async def get_raw_schema(request: Request, schema_id: str) -> Response:
    text = registry_of(request).schema_by_id(id_param(schema_id))
    return Response(text.schema.encode(), media_type=request.scope.get(MEDIA_TYPE_KEY, V1_JSON))


@router.get("/schemas/ids/{schema_id}/subjects")
async def subjects_of_schema(request: Request, schema_id: str) -> Response:
    """Query: deleted, subject (prefix filter), offset, limit."""
    entries = registry_of(request).versions_of_id(
        id_param(schema_id), deleted=flag(request, "deleted")
    )
    prefix = request.query_params.get("subject") or ""
    subjects = sorted({e.subject for e in entries if e.subject.startswith(prefix)})
    return reply(request, page(request, subjects))


@router.get("/schemas/ids/{schema_id}/versions")
async def versions_of_schema(request: Request, schema_id: str) -> Response:
    """Query: deleted, subject (prefix filter), offset, limit."""
    entries = registry_of(request).versions_of_id(
        id_param(schema_id), deleted=flag(request, "deleted")
    )
    prefix = request.query_params.get("subject") or ""
    pairs = [
        {"subject": e.subject, "version": e.version}
        for e in entries
        if e.subject.startswith(prefix)
    ]
    return reply(request, page(request, pairs))


@router.get("/schemas/types")
async def schema_types(request: Request) -> Response:
    return reply(request, [AVRO])


@router.get("/schemas")
async def list_schemas(request: Request) -> Response:
    """Query: subjectPrefix, deleted, latestOnly, offset, limit (at most 1000 a page)."""
    registry, deleted = registry_of(request), flag(request, "deleted")
    prefix = request.query_params.get("subjectPrefix") or ""
    found: list[Any] = []
    for subject in registry.subjects(prefix=prefix, deleted=deleted):
        entries = registry.live_versions(subject, deleted=deleted)
        chosen = entries[-1:] if flag(request, "latestOnly") else entries
        found.extend(version_json(registry, e) for e in chosen)
    limit = int_query(request, "limit", 1000)
    offset = max(int_query(request, "offset", 0), 0)
    return reply(request, found[offset : offset + (limit if 0 < limit <= 1000 else 1000)])


# -- compatibility --------------------------------------------------------------------------------


@router.post("/compatibility/subjects/{subject}/versions/{version}")
async def check_against_version(request: Request, subject: str, version: str) -> Response:
    """Query: verbose (add messages), normalize."""
    registry, spec, verbose = registry_of(request), parse_version(version), flag(request, "verbose")
    wanted = schema_request(await body_of(request))
    try:
        result = registry.check(subject_param(subject), spec, wanted)
    except InvalidSchema as exc:
        if not verbose:
            raise
        result = CompatibilityResult(False, (exc.message,))
    return reply(request, compatibility_json(result, verbose))


@router.post("/compatibility/subjects/{subject}/versions")
async def check_against_all(request: Request, subject: str) -> Response:
    """Query: verbose, normalize. Uses the subject's level (transitive or latest only)."""
    registry, verbose = registry_of(request), flag(request, "verbose")
    wanted = schema_request(await body_of(request))
    try:
        result = registry.check_all(subject_param(subject), wanted)
    except InvalidSchema as exc:
        if not verbose:
            raise
        result = CompatibilityResult(False, (exc.message,))
    return reply(request, compatibility_json(result, verbose))


# -- config ---------------------------------------------------------------------------------------


def level_of(body: dict[str, Any]) -> CompatibilityLevel:
    text = field_text(body, "compatibility", "compatibilityLevel").upper()
    try:
        return CompatibilityLevel(text)
    except ValueError:
        raise InvalidCompatibilityLevel() from None


@router.get("/config")
async def get_global_config(request: Request) -> Response:
    return reply(request, {"compatibilityLevel": registry_of(request).level(None).value})


@router.put("/config")
async def put_global_config(request: Request) -> Response:
    level = level_of(await body_of(request))
    await run_in_threadpool(registry_of(request).set_level, None, level)
    return reply(request, {"compatibility": level.value})


@router.delete("/config")
async def delete_global_config(request: Request) -> Response:
    previous = await run_in_threadpool(registry_of(request).delete_level, None)
    return reply(request, {"compatibilityLevel": previous.value})


@router.get("/config/{subject}")
async def get_subject_config(request: Request, subject: str) -> Response:
    """Query: defaultToGlobal (answer the effective level instead of 40408)."""
    level = registry_of(request).subject_level(
        subject_param(subject), default_to_global=flag(request, "defaultToGlobal")
    )
    return reply(request, {"compatibilityLevel": level.value})


@router.put("/config/{subject}")
async def put_subject_config(request: Request, subject: str) -> Response:
    level = level_of(await body_of(request))
    await run_in_threadpool(registry_of(request).set_level, subject_param(subject), level)
    return reply(request, {"compatibility": level.value})


@router.delete("/config/{subject}")
async def delete_subject_config(request: Request, subject: str) -> Response:
    previous = await run_in_threadpool(registry_of(request).delete_level, subject_param(subject))
    return reply(request, {"compatibilityLevel": previous.value})


# -- mode -----------------------------------------------------------------------------------------


def mode_of(body: dict[str, Any]) -> Mode:
    try:
        return Mode(field_text(body, "mode").upper())
    except ValueError:
        raise InvalidMode() from None


@router.get("/mode")
async def get_global_mode(request: Request) -> Response:
    return reply(request, {"mode": registry_of(request).mode(None).value})


@router.put("/mode")
async def put_global_mode(request: Request) -> Response:
    """Query: force (allow IMPORT although subjects exist)."""
    mode, force = mode_of(await body_of(request)), flag(request, "force")
    await run_in_threadpool(registry_of(request).set_mode, None, mode, force=force)
    return reply(request, {"mode": mode.value})


@router.delete("/mode")
async def delete_global_mode(request: Request) -> Response:
    previous = await run_in_threadpool(registry_of(request).delete_mode, None)
    return reply(request, {"mode": previous.value})


@router.get("/mode/{subject}")
async def get_subject_mode(request: Request, subject: str) -> Response:
    """Query: defaultToGlobal (answer the effective mode instead of 40409)."""
    mode = registry_of(request).subject_mode(
        subject_param(subject), default_to_global=flag(request, "defaultToGlobal")
    )
    return reply(request, {"mode": mode.value})


@router.put("/mode/{subject}")
async def put_subject_mode(request: Request, subject: str) -> Response:
    mode, force = mode_of(await body_of(request)), flag(request, "force")
    await run_in_threadpool(
        registry_of(request).set_mode, subject_param(subject), mode, force=force
    )
    return reply(request, {"mode": mode.value})


@router.delete("/mode/{subject}")
async def delete_subject_mode(request: Request, subject: str) -> Response:
    previous = await run_in_threadpool(registry_of(request).delete_mode, subject_param(subject))
    return reply(request, {"mode": previous.value})


# -- contexts -------------------------------------------------------------------------------------


@router.get("/contexts")
async def list_contexts(request: Request) -> Response:
    return reply(request, ["."])
