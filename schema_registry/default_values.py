"""Whether a field's JSON default fits its type, by Avro-Java 1.12's ``Schema.isValidDefault``.

The Python ``avro`` parser does not check field defaults, while Confluent validates new
schemas with defaults on (``validateAsNew``). A union default may match any branch
(``anyMatch`` since Avro 1.12); enum, fixed, bytes and string defaults only need to be text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import avro.schema

INT_RANGE = range(-(2**31), 2**31)
LONG_RANGE = range(-(2**63), 2**63)


def invalid_defaults(schema: avro.schema.Schema) -> list[str]:
    """Names (``Record.field``) of fields whose default does not fit the field's type."""
    found: list[str] = []
    _walk(schema, found, set())
    return found


def is_valid_default(schema: avro.schema.Schema, value: Any) -> bool:
    if isinstance(schema, avro.schema.UnionSchema):
        return any(is_valid_default(branch, value) for branch in schema.schemas)
    check = _CHECKS.get(schema.type)
    return check is not None and check(schema, value)


def _walk(schema: avro.schema.Schema, found: list[str], seen: set[int]) -> None:
    if id(schema) in seen:
        return
    seen.add(id(schema))
    for child in _children(schema):
        _walk(child, found, seen)
    if isinstance(schema, avro.schema.RecordSchema):
        found.extend(_bad_fields(schema))


def _children(schema: avro.schema.Schema) -> list[avro.schema.Schema]:
    if isinstance(schema, avro.schema.RecordSchema):
        return [f.type for f in schema.fields]
    if isinstance(schema, avro.schema.UnionSchema):
        return list(schema.schemas)
    if isinstance(schema, avro.schema.ArraySchema):
        return [schema.items]
    if isinstance(schema, avro.schema.MapSchema):
        return [schema.values]
    return []


def _bad_fields(record: avro.schema.RecordSchema) -> list[str]:
    return [
        f"{record.fullname}.{f.name}"
        for f in record.fields
        if f.has_default and not is_valid_default(f.type, f.default)
    ]


def _is_integral(value: Any, bounds: range) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in bounds


def _record_default(schema: Any, value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return all(_record_field_default(f, value) for f in schema.fields)


def _record_field_default(f: avro.schema.Field, value: dict[str, Any]) -> bool:
    if f.name in value:
        return is_valid_default(f.type, value[f.name])
    return bool(f.has_default) and is_valid_default(f.type, f.default)


_CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "null": lambda _s, v: v is None,
    "boolean": lambda _s, v: isinstance(v, bool),
    "int": lambda _s, v: _is_integral(v, INT_RANGE),
    "long": lambda _s, v: _is_integral(v, LONG_RANGE),
    "float": lambda _s, v: isinstance(v, int | float) and not isinstance(v, bool),
    "double": lambda _s, v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda _s, v: isinstance(v, str),
    "bytes": lambda _s, v: isinstance(v, str),
    "enum": lambda _s, v: isinstance(v, str),
    "fixed": lambda _s, v: isinstance(v, str),
    "array": lambda s, v: isinstance(v, list) and all(is_valid_default(s.items, x) for x in v),
    "map": lambda s, v: (
        isinstance(v, dict) and all(is_valid_default(s.values, x) for x in v.values())
    ),
    "record": _record_default,
    "error": _record_default,
}
