"""The registry's operations, with Confluent's rules: what each request reads, checks and writes.

Reads come from the in-memory view. Every write is decided under one lock after catching up
with the log, then appended; ``Storage.append`` returns only once the record is applied, so the
answer a client gets is already visible to its next request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from strangler.schema_registry.avro_schema import ParsedSchema, parse_schema
from strangler.schema_registry.compatibility import (
    CompatibilityResult,
    PreviousVersion,
    check_compatibility,
)
from strangler.schema_registry.errors import (
    IdMismatch,
    IncompatibleSchema,
    InvalidMode,
    InvalidSchema,
    OperationNotPermitted,
    ReferenceExists,
    SchemaNotFound,
    SchemaTooLarge,
    SubjectConfigNotFound,
    SubjectModeNotFound,
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    VersionNotFound,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
)
from strangler.schema_registry.identifiers import VersionSpec, checked_subject
from strangler.schema_registry.model import (
    AVRO,
    CompatibilityLevel,
    Mode,
    SchemaId,
    SchemaReference,
    SchemaText,
    Subject,
    SubjectVersion,
    Version,
)
from strangler.schema_registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    ModeRecord,
    SchemaRecord,
    SchemaTombstone,
)
from strangler.schema_registry.storage import Storage
from strangler.schema_registry.view import RegistryView

DEFAULT_LEVEL = CompatibilityLevel.BACKWARD
DEFAULT_MODE = Mode.READWRITE


@dataclass(frozen=True, slots=True)
class SchemaRequest:
    """A schema as a client sends it (register, lookup, compatibility check)."""

    schema: str
    references: tuple[SchemaReference, ...] = ()
    schema_type: str = AVRO
    schema_id: SchemaId | None = None
    version: Version | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    schema_id: SchemaId
    version: Version


class SchemaRegistry:
    """Confluent's schema registry semantics over a storage log and its in-memory view."""

    def __init__(self, storage: Storage, *, max_schema_chars: int = 1_048_576) -> None:
        self.view = RegistryView()
        self._storage = storage
        self._write_lock = threading.Lock()
        self._parsed: dict[SchemaId, ParsedSchema] = {}
        self._max_schema_chars = max_schema_chars
        storage.start(self.view.apply)

    def close(self) -> None:
        self._storage.close()

    # -- schemas by id -------------------------------------------------------------------

    def schema_by_id(self, schema_id: SchemaId) -> SchemaText:
        if not self.view.visible(schema_id):
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return self.view.schemas[schema_id]

    def versions_of_id(self, schema_id: SchemaId, *, deleted: bool) -> list[SubjectVersion]:
        self.schema_by_id(schema_id)
        found = [self.view.versions(s).get(v) for s, v in list(self.view.users[schema_id])]
        return sorted(e for e in found if e is not None and (deleted or not e.deleted))

    # -- subjects and versions -----------------------------------------------------------

    def subjects(
        self, *, prefix: str = "", deleted: bool = False, deleted_only: bool = False
    ) -> list[Subject]:
        return sorted(
            s
            for s, versions in list(self.view.subjects.items())
            if s.startswith(prefix) and _has_versions(versions, deleted, deleted_only)
        )

    def live_versions(self, subject: Subject, *, deleted: bool = False) -> list[SubjectVersion]:
        """A subject's versions, oldest first; 40401 when it has none."""
        entries = [
            e for _, e in sorted(self.view.versions(subject).items()) if deleted or not e.deleted
        ]
        if not entries:
            raise SubjectNotFound(subject)
        return entries

    def version(
        self, subject: Subject, spec: VersionSpec, *, deleted: bool = False
    ) -> SubjectVersion:
        entries = self.live_versions(subject, deleted=deleted)
        if spec == "latest":
            return entries[-1]
        for entry in entries:
            if entry.version == spec:
                return entry
        raise VersionNotFound(spec)

    def lookup(
        self, subject: Subject, request: SchemaRequest, *, deleted: bool = False
    ) -> SubjectVersion:
        entries = self.live_versions(subject, deleted=deleted)
        text = self.parse(request).text
        for entry in reversed(entries):
            if self.view.schemas[entry.schema_id] == text:
                return entry
        raise SchemaNotFound()

    def referenced_by(self, entry: SubjectVersion) -> list[SchemaId]:
        target = (entry.subject, entry.version)
        return sorted({e.schema_id for e in self._all_live() if target in self._refs_of(e)})

    # -- registration ----------------------------------------------------------------------

    def register(
        self, subject: Subject, request: SchemaRequest, *, force: bool = False
    ) -> Registered:
        subject = checked_subject(subject)
        parsed = self.parse(request)
        with self._write_lock:
            self._storage.sync()
            existing = self._same_live_version(subject, parsed.text)
            if existing is not None and request.schema_id in (None, existing.schema_id):
                return Registered(existing.schema_id, existing.version)
            return self._register_new(subject, request, parsed, force)

    def parse(self, request: SchemaRequest) -> ParsedSchema:
        if request.schema_type.upper() != AVRO:
            raise InvalidSchema(
                f"Unsupported schema type {request.schema_type}; only AVRO is served"
            )
        if len(request.schema) > self._max_schema_chars:
            raise SchemaTooLarge(f"Schema of {len(request.schema)} characters is too large")
        referenced = [self.view.schemas[i].schema for i in self._reference_ids(request.references)]
        return parse_schema(request.schema, request.references, referenced)

    def _register_new(
        self, subject: Subject, request: SchemaRequest, parsed: ParsedSchema, force: bool
    ) -> Registered:
        mode = self.mode(subject)
        if not mode.writable:
            raise OperationNotPermitted(f"Subject {subject} is in read-only mode")
        if mode is Mode.IMPORT:
            return self._import(subject, request, parsed)
        if request.schema_id is not None:
            raise OperationNotPermitted(f"Subject {subject} is not in import mode")
        if not force:
            self._require_compatible(subject, parsed)
        schema_id = self.view.ids_by_text.get(parsed.text, SchemaId(self.view.max_id + 1))
        return self._write_version(subject, self._next_version(subject), schema_id, parsed.text)

    def _import(self, subject: Subject, request: SchemaRequest, parsed: ParsedSchema) -> Registered:
        schema_id = request.schema_id or self.view.ids_by_text.get(parsed.text)
        schema_id = schema_id or SchemaId(self.view.max_id + 1)
        known = self.view.schemas.get(schema_id)
        if known is not None and known != parsed.text:
            raise IdMismatch(f"Overwrite new schema with id {schema_id} is not permitted.")
        version = request.version or self._next_version(subject)
        taken = self.view.versions(subject).get(version)
        if taken is not None and taken.schema_id != schema_id:
            raise OperationNotPermitted(
                f"Overwrite new schema with version {version} is not permitted."
            )
        return self._write_version(subject, version, schema_id, parsed.text)

    def _write_version(
        self, subject: Subject, version: Version, schema_id: SchemaId, text: SchemaText
    ) -> Registered:
        self._storage.append(SchemaRecord(subject, version, schema_id, text))
        for old in list(self.view.versions(subject).values()):
            if old.deleted and old.schema_id == schema_id:
                # Confluent tombstones a soft-deleted version whose schema comes back.
                self._storage.append(SchemaTombstone(subject, old.version))
        return Registered(schema_id, version)

    def _next_version(self, subject: Subject) -> Version:
        return Version(max(self.view.versions(subject), default=0) + 1)

    def _same_live_version(self, subject: Subject, text: SchemaText) -> SubjectVersion | None:
        for entry in list(self.view.versions(subject).values()):
            if not entry.deleted and self.view.schemas[entry.schema_id] == text:
                return entry
        return None

    def _require_compatible(self, subject: Subject, parsed: ParsedSchema) -> None:
        result = self._judge(subject, parsed, self._previous(subject))
        if not result.is_compatible:
            raise IncompatibleSchema(subject, result.messages)

    # -- compatibility checks ------------------------------------------------------------

    def check(
        self, subject: Subject, spec: VersionSpec, request: SchemaRequest
    ) -> CompatibilityResult:
        """Against one version; ``latest`` of a missing or empty subject is compatible."""
        parsed = self.parse(request)
        if spec == "latest" and not self._has_live(subject):
            return CompatibilityResult(True)
        entry = self._version_for_check(subject, spec)
        previous = [PreviousVersion(entry.version, self._parsed_by_id(entry.schema_id))]
        return self._judge(subject, parsed, previous, transitive_ok=False)

    def check_all(self, subject: Subject, request: SchemaRequest) -> CompatibilityResult:
        return self._judge(subject, self.parse(request), self._previous(subject))

    def _version_for_check(self, subject: Subject, spec: VersionSpec) -> SubjectVersion:
        try:
            return self.version(subject, spec)
        except SubjectNotFound:
            raise VersionNotFound(spec) from None

    def _judge(
        self,
        subject: Subject,
        parsed: ParsedSchema,
        previous: list[PreviousVersion],
        *,
        transitive_ok: bool = True,
    ) -> CompatibilityResult:
        level = self.level(subject)
        if not transitive_ok and level.transitive:
            level = CompatibilityLevel(level.removesuffix("_TRANSITIVE"))
        return check_compatibility(parsed, previous, level)

    def _previous(self, subject: Subject) -> list[PreviousVersion]:
        entries = [e for _, e in sorted(self.view.versions(subject).items()) if not e.deleted]
        return [PreviousVersion(e.version, self._parsed_by_id(e.schema_id)) for e in entries]

    def _parsed_by_id(self, schema_id: SchemaId) -> ParsedSchema:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            text = self.view.schemas[schema_id]
            referenced = [self.view.schemas[i].schema for i in self._reference_ids(text.references)]
            parsed = parse_schema(text.schema, text.references, referenced, new=False)
            self._parsed[schema_id] = parsed
        return parsed

    # -- deletes -----------------------------------------------------------------------------

    def delete_subject(self, subject: Subject, *, permanent: bool = False) -> list[Version]:
        with self._write_lock:
            self._storage.sync()
            entries = sorted(self.view.versions(subject).values())
            if not entries:
                raise SubjectNotFound(subject)
            self._refuse_if_referenced(entries)
            if permanent:
                return self._purge_subject(subject, entries)
            return self._soft_delete_subject(subject, entries)

    def _soft_delete_subject(
        self, subject: Subject, entries: list[SubjectVersion]
    ) -> list[Version]:
        live = [e.version for e in entries if not e.deleted]
        if not live:
            raise SubjectSoftDeleted(subject)
        self._require_writable(subject)
        self._storage.append(DeleteSubjectRecord(subject, entries[-1].version))
        return live

    def _purge_subject(self, subject: Subject, entries: list[SubjectVersion]) -> list[Version]:
        if any(not e.deleted for e in entries):
            raise SubjectNotSoftDeleted(subject)
        self._require_writable(subject)
        for entry in reversed(entries):
            self._storage.append(SchemaTombstone(subject, entry.version))
        if subject in self.view.configs:
            self._storage.append(ConfigRecord(subject, None))
        if subject in self.view.modes:
            self._storage.append(ModeRecord(subject, None))
        return [e.version for e in entries]

    def delete_version(
        self, subject: Subject, spec: VersionSpec, *, permanent: bool = False
    ) -> Version:
        with self._write_lock:
            self._storage.sync()
            entry = self.version(subject, spec, deleted=permanent or spec != "latest")
            self._refuse_if_referenced([entry])
            self._require_writable(subject)
            if permanent:
                return self._purge_version(entry)
            return self._soft_delete_version(entry)

    def _soft_delete_version(self, entry: SubjectVersion) -> Version:
        if entry.deleted:
            raise VersionSoftDeleted(entry.subject, entry.version)
        text = self.view.schemas[entry.schema_id]
        self._storage.append(
            SchemaRecord(entry.subject, entry.version, entry.schema_id, text, True)
        )
        return entry.version

    def _purge_version(self, entry: SubjectVersion) -> Version:
        if not entry.deleted:
            raise VersionNotSoftDeleted(entry.subject, entry.version)
        self._storage.append(SchemaTombstone(entry.subject, entry.version))
        return entry.version

    def _refuse_if_referenced(self, entries: list[SubjectVersion]) -> None:
        for entry in entries:
            if self.referenced_by(entry):
                raise ReferenceExists(
                    "One or more references exist to the schema "
                    f"{{magic=1,keytype=SCHEMA,subject={entry.subject},version={entry.version}}}."
                )

    # -- config and mode ---------------------------------------------------------------------

    def level(self, subject: Subject | None) -> CompatibilityLevel:
        return self.view.configs.get(subject) or self.view.configs.get(None) or DEFAULT_LEVEL

    def subject_level(self, subject: Subject, *, default_to_global: bool) -> CompatibilityLevel:
        if subject in self.view.configs or default_to_global:
            return self.level(subject)
        raise SubjectConfigNotFound(subject)

    def set_level(self, subject: Subject | None, level: CompatibilityLevel) -> None:
        if subject is not None:
            subject = checked_subject(subject)
        self._write(ConfigRecord(subject, level), subject)

    def delete_level(self, subject: Subject | None) -> CompatibilityLevel:
        previous = self.level(subject)
        if subject is not None and subject not in self.view.configs:
            raise SubjectNotFound(subject)
        self._write(ConfigRecord(subject, None), subject)
        return previous

    def mode(self, subject: Subject | None) -> Mode:
        return self.view.modes.get(subject) or self.view.modes.get(None) or DEFAULT_MODE

    def subject_mode(self, subject: Subject, *, default_to_global: bool) -> Mode:
        if subject in self.view.modes or default_to_global:
            return self.mode(subject)
        raise SubjectModeNotFound(subject)

    def set_mode(self, subject: Subject | None, mode: Mode, *, force: bool = False) -> None:
        if subject is not None:
            subject = checked_subject(subject)
            if mode is Mode.FORWARD:
                raise InvalidMode()
        if mode is Mode.IMPORT and not force and self._has_subjects(subject):
            raise OperationNotPermitted("Cannot import since found existing subjects")
        with self._write_lock:
            self._storage.append(ModeRecord(subject, mode))

    def delete_mode(self, subject: Subject | None) -> Mode:
        previous = self.mode(subject)
        if subject is not None and subject not in self.view.modes:
            raise SubjectModeNotFound(subject)
        with self._write_lock:
            self._storage.append(ModeRecord(subject, None))
        return previous

    def _write(self, record: ConfigRecord, subject: Subject | None) -> None:
        with self._write_lock:
            self._require_writable(subject)
            self._storage.append(record)

    def _require_writable(self, subject: Subject | None) -> None:
        if not self.mode(subject).writable:
            raise OperationNotPermitted(f"Subject {subject or ''} is in read-only mode")

    # -- helpers -------------------------------------------------------------------------------

    def _has_live(self, subject: Subject) -> bool:
        return any(not e.deleted for e in list(self.view.versions(subject).values()))

    def _has_subjects(self, subject: Subject | None) -> bool:
        if subject is None:
            return bool(self.subjects())
        return self._has_live(subject)

    def _all_live(self) -> Iterator[SubjectVersion]:
        for versions in list(self.view.subjects.values()):
            yield from (e for e in list(versions.values()) if not e.deleted)

    def _refs_of(self, entry: SubjectVersion) -> set[tuple[Subject, Version]]:
        return {(r.subject, r.version) for r in self.view.schemas[entry.schema_id].references}

    def _reference_ids(self, references: tuple[SchemaReference, ...]) -> list[SchemaId]:
        """Ids of every schema the references need, dependencies first, each once."""
        ordered: dict[SchemaId, None] = {}
        for ref in references:
            self._collect_reference(ref, ordered, depth=0)
        return list(ordered)

    def _collect_reference(
        self, ref: SchemaReference, ordered: dict[SchemaId, None], depth: int
    ) -> None:
        entry = self.view.versions(ref.subject).get(ref.version)
        if entry is None or depth > 32:
            raise InvalidSchema(
                f"Invalid schema reference {ref.name} to {ref.subject} version {ref.version}"
            )
        for inner in self.view.schemas[entry.schema_id].references:
            self._collect_reference(inner, ordered, depth + 1)
        ordered.setdefault(entry.schema_id, None)


def _has_versions(
    versions: dict[Version, SubjectVersion], deleted: bool, deleted_only: bool
) -> bool:
    entries = list(versions.values())
    if deleted_only:
        return any(e.deleted for e in entries)
    return deleted or any(not e.deleted for e in entries)
