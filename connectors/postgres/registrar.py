"""Registering table schemas in the registry (through ``strangler.schema_registry.client``), with
refusals turned into errors that say what to do. Any ``SchemaRegistrar`` can replace it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strangler.connectors.postgres.errors import PostgresError
from strangler.core.errors import ServiceUnavailable

if TYPE_CHECKING:
    from strangler.schema_registry.client import RegistryClient


class IncompatibleSchema(PostgresError):
    """The registry refused a new schema version: consumers could not read it. Fatal."""

    exit_code = 5


class HttpRegistrar:
    """``SchemaRegistrar`` over a registry URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: RegistryClient | None = None

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        from strangler.schema_registry.client import RegistryClient, RegistryRequestFailed

        if self._client is None:
            self._client = RegistryClient(self.url)
        try:
            return int(self._client.register(subject, json.dumps(schema)))
        except RegistryRequestFailed as exc:
            if exc.status == 409:
                raise IncompatibleSchema(
                    f"schema change refused for {subject}: {exc.message}; "
                    "nothing of the new shape was published",
                    fix="make the change compatible (add columns as nullable or with a default), "
                    "or lower the subject's compatibility level (PUT /config/<subject>), or "
                    "publish to new topics (another topic_prefix), then restart",
                ) from exc
            raise ServiceUnavailable(
                f"the schema registry at {self.url} could not register {subject}: {exc.message}",
                fix="check registry.url and that the registry runs",
            ) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
