"""Where writer schemas come from, by registry id: our registry client (any Confluent-compatible
registry), or a fixed map (tests, tools). A schema the registry does not know makes the record
bad; a registry that cannot be reached is retriable and stops nothing but the batch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from strangler.core.errors import ServiceUnavailable
from strangler.materializers.errors import RecordError
from strangler.schema_registry.client import RegistryClient, RegistryRequestFailed
from strangler.schema_registry.model import SchemaId


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
    """Schemas from the schema registry through ``RegistryClient`` (cached: an id never
    changes its schema). Only Avro schemas without references are supported."""

    def __init__(self, url: str, client: RegistryClient | None = None) -> None:
        self._client = client or RegistryClient(url)
        self._parsed: dict[int, Mapping[str, Any]] = {}

    def schema(self, schema_id: int) -> Mapping[str, Any]:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            parsed = self._parsed[schema_id] = self._fetch(schema_id)
        return parsed

    def _fetch(self, schema_id: int) -> Mapping[str, Any]:
        try:
            text = self._client.schema_by_id(SchemaId(schema_id))
        except RegistryRequestFailed as exc:
            if exc.retriable:
                raise ServiceUnavailable(f"schema registry: {exc}") from exc
            raise RecordError(f"schema id {schema_id}: {exc}") from exc
        if text.schema_type != "AVRO" or text.references:
            raise RecordError(f"schema id {schema_id} is not a self-contained Avro schema")
        parsed: Mapping[str, Any] = json.loads(text.schema)
        return parsed

    def close(self) -> None:
        self._client.close()
