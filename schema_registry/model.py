"""The registry's vocabulary: ids, subjects, versions, references, levels and modes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

SchemaId = NewType("SchemaId", int)
Subject = NewType("Subject", str)
Version = NewType("Version", int)

MAX_VERSION = 2**31 - 1
AVRO = "AVRO"


class CompatibilityLevel(StrEnum):
    """Confluent's compatibility levels; the transitive forms check every live version."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        return self.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        return self.startswith(("FORWARD", "FULL"))


class Mode(StrEnum):
    """What a subject (or the whole registry) accepts: READONLY refuses writes, IMPORT keeps ids."""

    READWRITE = "READWRITE"
    READONLY = "READONLY"
    READONLY_OVERRIDE = "READONLY_OVERRIDE"
    IMPORT = "IMPORT"
    FORWARD = "FORWARD"

    @property
    def writable(self) -> bool:
        return self in (Mode.READWRITE, Mode.IMPORT, Mode.FORWARD)


@dataclass(frozen=True, slots=True)
class SchemaReference:
    """A named type defined by another subject's version (``{name, subject, version}``)."""

    name: str
    subject: Subject
    version: Version


@dataclass(frozen=True, slots=True)
class SchemaText:
    """A schema as stored: its canonical string, type and references. Equal texts share an id."""

    schema: str
    references: tuple[SchemaReference, ...] = ()
    schema_type: str = AVRO


@dataclass(frozen=True, slots=True, order=True)
class SubjectVersion:
    """One version of a subject, pointing at a schema id; ``deleted`` marks a soft delete."""

    subject: Subject
    version: Version
    schema_id: SchemaId
    deleted: bool = False
