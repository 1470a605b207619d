"""Records of the registry's log, in Confluent's ``_schemas`` key/value format.

Both storage backends write exactly these bytes (the SQLite file keeps them too), so a log can
move between backends and to or from a Confluent registry. Key bytes must equal Confluent's
(``@JsonPropertyOrder``, compact JSON, empty fields left out): compaction matches keys by bytes,
and Karapace's early key order left Confluent records uncompacted (Karapace #347).

Keys:
- SCHEMA ``{"keytype":"SCHEMA","subject":s,"version":n,"magic":1}``; value null = permanent delete
- CONFIG / MODE ``{"keytype":"CONFIG","subject":s,"magic":0}``, subject left out for global
- DELETE_SUBJECT ``{"keytype":"DELETE_SUBJECT","subject":s,"magic":0}`` soft-deletes 1..version
- CLEAR_SUBJECT and NOOP are read and ignored; unknown key types (CONTEXT, ASSOC) too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from strangler.schema_registry.model import (
    AVRO,
    CompatibilityLevel,
    Mode,
    SchemaId,
    SchemaReference,
    SchemaText,
    Subject,
    Version,
)


@dataclass(frozen=True, slots=True)
class SchemaRecord:
    """A version of a subject (``deleted`` = soft-deleted)."""

    subject: Subject
    version: Version
    schema_id: SchemaId
    text: SchemaText
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class SchemaTombstone:
    """A version permanently deleted."""

    subject: Subject
    version: Version


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """Compatibility level of a subject, or the global one (subject None); level None = unset."""

    subject: Subject | None
    level: CompatibilityLevel | None


@dataclass(frozen=True, slots=True)
class ModeRecord:
    """Mode of a subject, or the global one (subject None); mode None = unset."""

    subject: Subject | None
    mode: Mode | None


@dataclass(frozen=True, slots=True)
class DeleteSubjectRecord:
    """Soft delete of every version of a subject up to ``version``."""

    subject: Subject
    version: Version


@dataclass(frozen=True, slots=True)
class NoopRecord:
    """Written only to learn the log's end; changes nothing."""


LogRecord = (
    SchemaRecord | SchemaTombstone | ConfigRecord | ModeRecord | DeleteSubjectRecord | NoopRecord
)


class MalformedRecord(ValueError):
    """A log entry whose key or value is not in the ``_schemas`` format."""


def encode(record: LogRecord) -> tuple[bytes, bytes | None]:
    """Key and value bytes of a record, exactly as Confluent writes them."""
    key, value = _ENCODERS[type(record)](record)
    return _dumps(key), None if value is None else _dumps(value)


def decode(key: bytes, value: bytes | None) -> LogRecord | None:
    """The record in a log entry; None for key types this registry does not act on."""
    parsed_key = _loads(key)
    if not isinstance(parsed_key, dict):
        raise MalformedRecord(f"key is not a JSON object: {key[:200]!r}")
    decoder = _DECODERS.get(str(parsed_key.get("keytype")))
    if decoder is None:
        return None
    try:
        return decoder(parsed_key, None if value is None else _loads(value))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedRecord(f"bad record {key[:200]!r}: {exc}") from exc


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MalformedRecord(f"not JSON: {raw[:200]!r}") from exc


def _scoped_key(keytype: str, subject: Subject | None) -> dict[str, Any]:
    key: dict[str, Any] = {"keytype": keytype}
    if subject is not None:
        key["subject"] = subject
    key["magic"] = 0
    return key


Encoded = tuple[dict[str, Any], dict[str, Any] | None]


def _encode_schema(record: Any) -> Encoded:
    r: SchemaRecord = record
    value: dict[str, Any] = {"subject": r.subject, "version": r.version, "id": r.schema_id}
    if r.text.schema_type != AVRO:
        value["schemaType"] = r.text.schema_type
    if r.text.references:
        value["references"] = [_reference_json(ref) for ref in r.text.references]
    value["schema"] = r.text.schema
    value["deleted"] = r.deleted
    return _schema_key(r.subject, r.version), value


def _schema_key(subject: Subject, version: Version) -> dict[str, Any]:
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def _reference_json(ref: SchemaReference) -> dict[str, Any]:
    return {"name": ref.name, "subject": ref.subject, "version": ref.version}


def _encode_tombstone(record: Any) -> Encoded:
    r: SchemaTombstone = record
    return _schema_key(r.subject, r.version), None


def _encode_config(record: Any) -> Encoded:
    r: ConfigRecord = record
    value = None if r.level is None else {"compatibilityLevel": r.level.value}
    return _scoped_key("CONFIG", r.subject), value


def _encode_mode(record: Any) -> Encoded:
    r: ModeRecord = record
    value = None if r.mode is None else {"mode": r.mode.value}
    return _scoped_key("MODE", r.subject), value


def _encode_delete_subject(record: Any) -> Encoded:
    r: DeleteSubjectRecord = record
    return _scoped_key("DELETE_SUBJECT", r.subject), {"subject": r.subject, "version": r.version}


def _encode_noop(_record: Any) -> Encoded:
    return {"keytype": "NOOP", "magic": 0}, None


_ENCODERS = {
    SchemaRecord: _encode_schema,
    SchemaTombstone: _encode_tombstone,
    ConfigRecord: _encode_config,
    ModeRecord: _encode_mode,
    DeleteSubjectRecord: _encode_delete_subject,
    NoopRecord: _encode_noop,
}


def _decode_schema(key: dict[str, Any], value: Any) -> LogRecord:
    subject, version = Subject(key["subject"]), Version(int(key["version"]))
    if value is None:
        return SchemaTombstone(subject, version)
    refs = tuple(_decode_reference(ref) for ref in value.get("references") or ())
    text = SchemaText(value["schema"], refs, value.get("schemaType") or AVRO)
    return SchemaRecord(
        subject, version, SchemaId(int(value["id"])), text, bool(value.get("deleted"))
    )


def _decode_reference(ref: dict[str, Any]) -> SchemaReference:
    return SchemaReference(ref["name"], Subject(ref["subject"]), Version(int(ref["version"])))


def _optional_subject(key: dict[str, Any]) -> Subject | None:
    subject = key.get("subject")  # Karapace writes "subject":null for the global config
    return None if subject is None else Subject(subject)


def _decode_config(key: dict[str, Any], value: Any) -> LogRecord:
    level = None if value is None else value.get("compatibilityLevel")
    return ConfigRecord(
        _optional_subject(key), None if level is None else CompatibilityLevel(level)
    )


def _decode_mode(key: dict[str, Any], value: Any) -> LogRecord:
    mode = None if value is None else value.get("mode")
    return ModeRecord(_optional_subject(key), None if mode is None else Mode(mode))


def _decode_delete_subject(key: dict[str, Any], value: Any) -> LogRecord:
    return DeleteSubjectRecord(Subject(key["subject"]), Version(int(value["version"])))


def _decode_noop(_key: dict[str, Any], _value: Any) -> LogRecord:
    return NoopRecord()


_DECODERS = {
    "SCHEMA": _decode_schema,
    "CONFIG": _decode_config,
    "MODE": _decode_mode,
    "DELETE_SUBJECT": _decode_delete_subject,
    "NOOP": _decode_noop,
    "CLEAR_SUBJECT": _decode_noop,
}
