"""Registering table schemas in the registry (through ``strangler.schema_registry.client``), with
refusals turned into errors that say what to do. Any ``SchemaRegistrar`` can replace it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from strangler.connectors.postgres.errors import PostgresError
from strangler.core.errors import ServiceUnavailable
from strangler.core.schema import Column, TableSchema

if TYPE_CHECKING:
    from strangler.schema_registry.client import RegistryClient


class IncompatibleSchema(PostgresError):
    """The registry refused a new schema version: consumers could not read it. Fatal."""

    exit_code = 5


_GENERAL_FIX = (
    "make the change compatible (add columns as nullable or with a constant default), "
    "or lower the subject's compatibility level (PUT /config/<subject>), or "
    "publish to new topics (another topic_prefix), then restart"
)
# Confluent's refusal names each new field without a default in additionalInfo
_MISSING_DEFAULT = re.compile(
    r"errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'.*?additionalInfo:'([^']*)'"
)


def explain_refusal(error: IncompatibleSchema, schema: TableSchema) -> IncompatibleSchema:
    """``error`` with a fix line for the table's own case when the refusal is a new NOT NULL
    column the value record gives no default: its source default is not a constant (``now()``),
    or it has none. Any other refusal is returned as it is."""
    named = {n.strip() for info in _MISSING_DEFAULT.findall(error.message) for n in info.split(";")}
    columns = [c for c in schema.columns if schema.field_names[c.name] in named]
    fixes = [_column_fix(c) for c in columns if not c.nullable]
    if not fixes:
        return error
    return IncompatibleSchema(error.message, fix="; ".join(fixes))


def _column_fix(column: Column) -> str:
    if column.default is None or column.default.constant:  # none, or DEFAULT NULL
        return (
            f"column {column.name} is NOT NULL without a default, so older records have no "
            "value for it: give it a constant default or make it nullable, then restart"
        )
    return (
        f"the default of column {column.name} ({column.default.expression}) is not a constant, "
        "so older records have no value for it: make the column nullable, or add it in two "
        "steps (first with a constant default, then ALTER COLUMN … SET DEFAULT "
        f"{column.default.expression}), then restart"
    )


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
                    fix=_GENERAL_FIX,
                ) from exc
            raise ServiceUnavailable(
                f"the schema registry at {self.url} could not register {subject}: {exc.message}",
                fix="check registry.url and that the registry runs",
            ) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
