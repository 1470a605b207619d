"""Registering table schemas over the registry's HTTP API (Confluent's client), with refusals
turned into errors that say what to do.

A stopgap until ``strangler.schema_registry`` offers its own client: any ``SchemaRegistrar``
(``register(subject, schema) -> id``) can replace it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from strangler.connectors.postgres.errors import PostgresError
from strangler.core.errors import ServiceUnavailable


class IncompatibleSchema(PostgresError):
    """The registry refused a new schema version: consumers could not read it. Fatal."""

    exit_code = 5


class HttpRegistrar:
    """``SchemaRegistrar`` over a registry URL."""

    def __init__(self, url: str) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.url = url
        self._client = SchemaRegistryClient({"url": url})

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return self._client.register_schema(subject, Schema(json.dumps(schema), "AVRO"))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise IncompatibleSchema(
                    f"schema change refused for {subject}: {exc.error_message}; "
                    "nothing of the new shape was published",
                    fix="make the change compatible (add columns as nullable or with a default), "
                    "or lower the subject's compatibility level (PUT /config/<subject>), or "
                    "publish to new topics (another topic_prefix), then restart",
                ) from exc
            raise ServiceUnavailable(
                f"the schema registry at {self.url} refused {subject}: {exc}"
            ) from exc
        except OSError as exc:  # requests/httpx connection errors derive from it
            raise ServiceUnavailable(
                f"the schema registry at {self.url} did not answer: {exc}",
                fix="check registry.url and that the registry runs",
            ) from exc
