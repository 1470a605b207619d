"""The in-memory state of the registry, rebuilt by applying the log from its start.

Only storage threads call ``apply`` (under the storage's lock); request handlers read. Each
applied record bumps ``generation`` so that response caches know when to drop entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from strangler.schema_registry.model import (
    CompatibilityLevel,
    Mode,
    SchemaId,
    SchemaText,
    Subject,
    SubjectVersion,
    Version,
)
from strangler.schema_registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    LogRecord,
    ModeRecord,
    NoopRecord,
    SchemaRecord,
    SchemaTombstone,
)


class RegistryView:
    """Subjects, versions, schemas by id, configs and modes, as the log says they are now."""

    def __init__(self) -> None:
        self.schemas: dict[SchemaId, SchemaText] = {}
        self.ids_by_text: dict[SchemaText, SchemaId] = {}
        self.subjects: dict[Subject, dict[Version, SubjectVersion]] = {}
        self.users: dict[SchemaId, set[tuple[Subject, Version]]] = defaultdict(set)
        self.configs: dict[Subject | None, CompatibilityLevel] = {}
        self.modes: dict[Subject | None, Mode] = {}
        self.max_id = 0
        self.generation = 0

    def apply(self, record: LogRecord) -> None:
        _APPLIERS[type(record)](self, record)
        self.generation += 1

    def versions(self, subject: Subject) -> dict[Version, SubjectVersion]:
        return self.subjects.get(subject, {})

    def visible(self, schema_id: SchemaId) -> bool:
        """An id is served while some version, live or soft-deleted, points at it."""
        return bool(self.users.get(schema_id))

    def _put_version(self, entry: SubjectVersion, text: SchemaText) -> None:
        self._drop_version(entry.subject, entry.version)
        self.subjects.setdefault(entry.subject, {})[entry.version] = entry
        self.schemas.setdefault(entry.schema_id, text)
        self.ids_by_text.setdefault(text, entry.schema_id)
        self.users[entry.schema_id].add((entry.subject, entry.version))
        self.max_id = max(self.max_id, entry.schema_id)

    def _drop_version(self, subject: Subject, version: Version) -> None:
        old = self.subjects.get(subject, {}).pop(version, None)
        if old is not None:
            self.users[old.schema_id].discard((subject, version))
        if subject in self.subjects and not self.subjects[subject]:
            del self.subjects[subject]


def _apply_schema(view: RegistryView, record: LogRecord) -> None:
    assert isinstance(record, SchemaRecord)
    entry = SubjectVersion(record.subject, record.version, record.schema_id, record.deleted)
    view._put_version(entry, record.text)


def _apply_tombstone(view: RegistryView, record: LogRecord) -> None:
    assert isinstance(record, SchemaTombstone)
    view._drop_version(record.subject, record.version)


def _apply_config(view: RegistryView, record: LogRecord) -> None:
    assert isinstance(record, ConfigRecord)
    if record.level is None:
        view.configs.pop(record.subject, None)
    else:
        view.configs[record.subject] = record.level


def _apply_mode(view: RegistryView, record: LogRecord) -> None:
    assert isinstance(record, ModeRecord)
    if record.mode is None:
        view.modes.pop(record.subject, None)
    else:
        view.modes[record.subject] = record.mode


def _apply_delete_subject(view: RegistryView, record: LogRecord) -> None:
    assert isinstance(record, DeleteSubjectRecord)
    versions = view.subjects.get(record.subject, {})
    for number, entry in list(versions.items()):
        if number <= record.version and not entry.deleted:
            versions[number] = SubjectVersion(entry.subject, number, entry.schema_id, True)


def _apply_noop(_view: RegistryView, _record: LogRecord) -> None:
    return None


_APPLIERS: dict[type, Callable[[RegistryView, LogRecord], None]] = {
    SchemaRecord: _apply_schema,
    SchemaTombstone: _apply_tombstone,
    ConfigRecord: _apply_config,
    ModeRecord: _apply_mode,
    DeleteSubjectRecord: _apply_delete_subject,
    NoopRecord: _apply_noop,
}
