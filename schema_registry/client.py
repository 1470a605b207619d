"""A small registry client for the rest of strangler: cached lookups, retried requests.

Retries follow confluent-kafka's client: transport errors and 408, 429, 500, 502, 503, 504
are tried again with jittered exponential backoff (registration is idempotent, so a retried
register is safe). Schemas by id never change, so they are cached without expiry; so are ids
of schemas this client registered.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx

from strangler.schema_registry.errors import RegistryError
from strangler.schema_registry.model import (
    CompatibilityLevel,
    SchemaId,
    SchemaReference,
    SchemaText,
    Subject,
    Version,
)

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryRequestFailed(RegistryError):
    """The registry answered with an error (its Confluent code kept) or could not be reached."""

    def __init__(self, message: str, *, status: int, error_code: int) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.retriable = status in RETRIABLE_STATUSES or status == 0


class RegistryClient:
    """Talks to any Confluent-compatible registry (ours included)."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        backoff_s: float = 0.1,
        verify: bool | str = True,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), auth=auth, timeout=timeout, verify=verify
        )
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._lock = threading.Lock()
        self._by_id: dict[SchemaId, SchemaText] = {}
        self._registered: dict[tuple[str, str, tuple[SchemaReference, ...]], SchemaId] = {}

    def close(self) -> None:
        self._http.close()

    def register(
        self, subject: str, schema: str, references: tuple[SchemaReference, ...] = ()
    ) -> SchemaId:
        key = (subject, schema, references)
        cached = self._registered.get(key)
        if cached is not None:
            return cached
        body = {
            "schema": schema,
            "schemaType": "AVRO",
            "references": [_ref_json(r) for r in references],
        }
        answer = self._call("POST", f"/subjects/{_segment(subject)}/versions", body)
        schema_id = SchemaId(int(answer["id"]))
        with self._lock:
            self._registered[key] = schema_id
        return schema_id

    def schema_by_id(self, schema_id: SchemaId) -> SchemaText:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        answer = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        refs = tuple(_ref_from_json(r) for r in answer.get("references") or ())
        text = SchemaText(answer["schema"], refs, answer.get("schemaType") or "AVRO")
        with self._lock:
            self._by_id[schema_id] = text
        return text

    def latest(self, subject: str) -> tuple[SchemaId, int, str]:
        """(id, version, schema) of the subject's latest version."""
        answer = self._call("GET", f"/subjects/{_segment(subject)}/versions/latest")
        return SchemaId(int(answer["id"])), int(answer["version"]), str(answer["schema"])

    def is_compatible(self, subject: str, schema: str) -> tuple[bool, list[str]]:
        path = f"/compatibility/subjects/{_segment(subject)}/versions/latest?verbose=true"
        answer = self._call("POST", path, {"schema": schema, "schemaType": "AVRO"})
        return bool(answer["is_compatible"]), list(answer.get("messages") or [])

    def subjects(self) -> list[str]:
        """The subjects with a live (not soft-deleted) version."""
        return [str(s) for s in self._call("GET", "/subjects")]

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Delete ``subject``'s versions (soft; ``permanent`` only after a soft delete, as
        Confluent's registry requires); the versions deleted."""
        path = f"/subjects/{_segment(subject)}" + ("?permanent=true" if permanent else "")
        return [int(v) for v in self._call("DELETE", path)]

    def set_level(self, subject: str | None, level: CompatibilityLevel) -> None:
        path = "/config" if subject is None else f"/config/{_segment(subject)}"
        self._call("PUT", path, {"compatibility": level.value})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        attempt = 0
        while True:
            try:
                return self._once(method, path, body)
            except RegistryRequestFailed as failure:
                if not failure.retriable or attempt >= self._max_retries:
                    raise
            attempt += 1
            time.sleep(self._backoff_s * (2**attempt) * random.uniform(0.5, 1.5))

    def _once(self, method: str, path: str, body: Any) -> Any:
        headers = {"Accept": CONTENT_TYPE}
        content = None
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
            content = json.dumps(body)
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryRequestFailed(
                f"registry unreachable: {exc}", status=0, error_code=0
            ) from exc
        if response.status_code >= 400:
            raise _failure(response)
        return response.json()


def _failure(response: httpx.Response) -> RegistryRequestFailed:
    try:
        body = response.json()
        code, message = int(body["error_code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = response.status_code, response.text[:500]
    return RegistryRequestFailed(message, status=response.status_code, error_code=code)


def _segment(subject: str) -> str:
    return quote(subject, safe="")


def _ref_json(ref: SchemaReference) -> dict[str, Any]:
    return {"name": ref.name, "subject": ref.subject, "version": ref.version}


def _ref_from_json(data: dict[str, Any]) -> SchemaReference:
    return SchemaReference(
        str(data["name"]), Subject(str(data["subject"])), Version(int(data["version"]))
    )
