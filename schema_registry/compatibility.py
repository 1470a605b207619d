"""Compatibility of a new schema with a subject's earlier versions: a pure function.

Each reader/writer pair is judged by the Apache ``avro`` package's
``ReaderWriterCompatibilityChecker``, the Python port of Avro-Java's ``SchemaCompatibility``
that Confluent calls (``AvroSchema.isBackwardCompatible``). This module only chooses the pairs
per level, as Confluent's ``CompatibilityChecker`` does:

- BACKWARD: the new schema reads data written with the old one (new = reader);
- FORWARD: the old schema reads data written with the new one (old = reader);
- FULL: both; the ``_TRANSITIVE`` forms check every live version instead of only the latest.

Logical types, docs, defaults' values and custom properties do not take part, as in Avro.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from strangler.schema_registry.avro_schema import ParsedSchema
from strangler.schema_registry.model import CompatibilityLevel, Version


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """The answer for one new schema: compatible or not, with Confluent-style messages."""

    is_compatible: bool
    messages: tuple[str, ...] = ()


COMPATIBLE = CompatibilityResult(True)


@dataclass(frozen=True, slots=True)
class PreviousVersion:
    """A live earlier version of the subject, oldest first in the sequence given."""

    version: Version
    schema: ParsedSchema


def check_compatibility(
    new: ParsedSchema, previous: Sequence[PreviousVersion], level: CompatibilityLevel
) -> CompatibilityResult:
    """Judge ``new`` against ``previous`` (oldest first) under ``level``."""
    if level is CompatibilityLevel.NONE or not previous:
        return COMPATIBLE
    targets = list(reversed(previous)) if level.transitive else [previous[-1]]
    messages = [m for old in targets for m in _check_one(new, old, level)]
    return CompatibilityResult(not messages, tuple(messages))


def reader_problems(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    kinds = dict.fromkeys(kind.value.upper() for kind in result.incompatibilities)
    detail = "; ".join(sorted(result.messages))
    where = ", ".join(sorted(result.locations))
    return [_difference(kind, detail, where) for kind in kinds]


# Confluent's wording (``avro/Difference.java``); {info} is the checker's detail, {path} where.
# The checker merges several problems of one pair into one set of details and locations, so
# with more than one problem the details are listed together rather than paired.
_DESCRIPTIONS = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": "The field '{info}' at path '{path}' in the new schema"
    " has no default value and is missing in the old schema",
    "TYPE_MISMATCH": "The type (path '{path}') of a field in the new schema does not match with"
    " the old schema",
    "NAME_MISMATCH": "The name of the schema has changed (path '{path}')",
    "FIXED_SIZE_MISMATCH": "The size of FIXED type field at path '{path}' in the new schema does"
    " not match with the old schema",
    "MISSING_ENUM_SYMBOLS": "The new schema is missing enum symbols '{info}' at path '{path}' in"
    " the old schema",
    "MISSING_UNION_BRANCH": "The new schema is missing a type inside a union field at path"
    " '{path}' in the old schema",
}


def _difference(kind: str, info: str, path: str) -> str:
    description = _DESCRIPTIONS.get(kind, "{info} at path '{path}'").format(info=info, path=path)
    return f"{{errorType:'{kind}', description:'{description}', additionalInfo:'{info}'}}"


def can_read(reader: avro.schema.Schema, writer: avro.schema.Schema) -> bool:
    return not reader_problems(reader, writer)


def _check_one(new: ParsedSchema, old: PreviousVersion, level: CompatibilityLevel) -> list[str]:
    problems: list[str] = []
    if level.checks_backward:
        problems += reader_problems(new.avro, old.schema.avro)
    if level.checks_forward:
        problems += reader_problems(old.schema.avro, new.avro)
    if not problems:
        return []
    return [
        *problems,
        f"{{oldSchemaVersion: {old.version}}}",
        f"{{oldSchema: '{old.schema.text.schema}'}}",
        f"{{validateFields: 'false', compatibility: '{level.value}'}}",
    ]
