"""Parsing an Avro schema the way Confluent accepts it: names and defaults checked when new.

A ``ParsedSchema`` pairs the Apache ``avro`` object (which the compatibility checker reads)
with the stored form (canonical string plus references). Referenced schemas are parsed first
into the same name table, so a record type defined by another subject resolves by name.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.name
import avro.schema

from strangler.schema_registry.canonical import canonical_string
from strangler.schema_registry.default_values import invalid_defaults
from strangler.schema_registry.errors import InvalidSchema
from strangler.schema_registry.model import SchemaReference, SchemaText

# An unknown or misapplied logical type falls back to its underlying type, as in Avro-Java.
warnings.filterwarnings("ignore", category=avro.errors.IgnoredLogicalType)

# Inputs the avro parser rejects with something other than its own exception classes.
_PARSER_FAILURES = (avro.errors.AvroException, TypeError, ValueError, AttributeError, KeyError)


@dataclass(frozen=True, slots=True)
class ParsedSchema:
    """A schema accepted by the Avro parser, with its canonical stored form."""

    avro: avro.schema.Schema
    text: SchemaText


def parse_schema(
    schema: str,
    references: tuple[SchemaReference, ...] = (),
    referenced: Sequence[str] = (),
    *,
    new: bool = True,
) -> ParsedSchema:
    """Parse ``schema``; ``referenced`` holds the referenced schemas' texts, dependencies first.

    ``new`` applies Confluent's checks for schemas being registered (valid names and
    defaults); stored schemas are re-read leniently. Raises ``InvalidSchema`` (42201).
    """
    names = avro.name.Names(validate_names=new)
    for text in referenced:
        _make(_load_json(text), names, new)
    known = set(names.names)
    parsed = _make(_load_json(schema), names, new)
    if new:
        _check_defaults(parsed)
    return ParsedSchema(parsed, SchemaText(_canonical(schema, known), references))


def _load_json(text: str) -> Any:
    if not text.strip():
        raise InvalidSchema("Empty schema")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidSchema(f"Invalid schema {text[:200]}: {exc}") from exc


def _make(data: Any, names: avro.name.Names, new: bool) -> avro.schema.Schema:
    try:
        return avro.schema.make_avsc_object(
            data, names, validate_enum_symbols=new, validate_names=new
        )
    except RecursionError as exc:
        raise InvalidSchema("Invalid schema: nested too deeply") from exc
    except _PARSER_FAILURES as exc:
        raise InvalidSchema(f"Invalid schema: {exc}") from exc


def _check_defaults(parsed: avro.schema.Schema) -> None:
    bad = invalid_defaults(parsed)
    if bad:
        raise InvalidSchema(f"Invalid default for field {', '.join(bad)}")


def _canonical(schema: str, known: set[str]) -> str:
    try:
        return canonical_string(json.loads(schema), known)
    except (TypeError, KeyError, AttributeError) as exc:
        raise InvalidSchema(f"Invalid schema: {exc}") from exc
