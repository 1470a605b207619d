"""Where writer schemas come from, by registry id: the schema registry over HTTP, or a fixed
map (tests, tools). A schema the registry does not know makes the record bad; a registry that
cannot be reached is retriable and stops nothing but the batch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from strangler.core.errors import ServiceUnavailable
from strangler.materializers.errors import RecordError


class SchemaSource(Protocol):
    """Looks up a registered schema by id; raises ``RecordError`` for an unknown id."""

    def schema(self, schema_id: int) -> Mapping[str, Any]: ...


class StaticSchemas:
    """Schemas from a fixed map of id → schema."""

    def __init__(self, schemas: Mapping[int, Mapping[str, Any]]) -> None:
        self._schemas = dict(schemas)

    def schema(self, schema_id: int) -> Mapping[str, Any]:
        found = self._schemas.get(schema_id)
        if found is None:
            raise RecordError(f"schema id {schema_id} is not known")
        return found


class RegistrySchemas:
    """Schemas from a Confluent-compatible registry (``GET /schemas/ids/{id}``), cached
    forever: a registered id never changes its schema."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._cache: dict[int, Mapping[str, Any]] = {}

    def schema(self, schema_id: int) -> Mapping[str, Any]:
        cached = self._cache.get(schema_id)
        if cached is None:
            cached = self._cache[schema_id] = self._fetch(schema_id)
        return cached

    def _fetch(self, schema_id: int) -> Mapping[str, Any]:
        try:
            response = self._client.get(f"/schemas/ids/{schema_id}")
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"schema registry unreachable: {exc}") from exc
        if response.status_code == 404:
            raise RecordError(f"schema id {schema_id} is not in the registry")
        if response.status_code != 200:
            raise ServiceUnavailable(f"schema registry answered {response.status_code}")
        parsed: Mapping[str, Any] = json.loads(response.json()["schema"])
        return parsed

    def close(self) -> None:
        self._client.close()
