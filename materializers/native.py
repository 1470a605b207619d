"""The native (C) decoder of ``_speedups``: per writer schema, a plan of its fields that the C
reader follows, and the record decoder's common case in C.

A plan is ``[(field name, is_union, [leaf, ...])]``, a leaf ``(kind, arg, post, post_schema)``:
``kind`` one of ``Kind``, ``arg`` an enum's symbols or a fixed size, ``post`` a logical reader
of fastavro's called as ``post(value, post_schema, None)`` (decimal, uuid, time-*), exactly as
the generated Python reader calls it. Timestamps and dates are made in C, as ``epoch +
timedelta`` and ``date.fromordinal`` make them. A schema the plan cannot say (nested records,
arrays, maps, named-type references, unions of unions) gets no native reader: the generated
Python reader (``avro_reader``) or fastavro reads it, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from fastavro._logical_readers import LOGICAL_READERS

from strangler.materializers import _speedups
from strangler.materializers.avro_reader import Reader


class Kind(IntEnum):
    """What the C reader reads for a leaf (``enum Kind`` in ``_speedups.c``)."""

    NULL = 0
    BOOLEAN = 1
    LONG = 2
    FLOAT = 3
    DOUBLE = 4
    STRING = 5
    BYTES = 6
    ENUM = 7
    FIXED = 8
    TIMESTAMP_MICROS = 9
    TIMESTAMP_MILLIS = 10
    LOCAL_TIMESTAMP_MICROS = 11
    LOCAL_TIMESTAMP_MILLIS = 12
    DATE = 13


Leaf = tuple[int, Any, Any, Any]
Plan = list[tuple[str, bool, list[Leaf]]]

_PRIMITIVES = {
    "null": Kind.NULL,
    "boolean": Kind.BOOLEAN,
    "int": Kind.LONG,
    "long": Kind.LONG,
    "float": Kind.FLOAT,
    "double": Kind.DOUBLE,
    "string": Kind.STRING,
    "bytes": Kind.BYTES,
}
_NATIVE_LOGICAL = {
    "long-timestamp-micros": Kind.TIMESTAMP_MICROS,
    "long-timestamp-millis": Kind.TIMESTAMP_MILLIS,
    "long-local-timestamp-micros": Kind.LOCAL_TIMESTAMP_MICROS,
    "long-local-timestamp-millis": Kind.LOCAL_TIMESTAMP_MILLIS,
    "int-date": Kind.DATE,
}


def _leaf(avro_type: Any) -> Leaf | None:
    """The leaf reading one non-union value of ``avro_type``; None if the C reader cannot."""
    if isinstance(avro_type, str):
        kind = _PRIMITIVES.get(avro_type)
        return None if kind is None else (kind, None, None, None)
    if not isinstance(avro_type, Mapping):
        return None
    base = avro_type.get("type")
    if base == "enum":
        return (Kind.ENUM, tuple(avro_type["symbols"]), None, None)
    if base == "fixed":
        return _logical(avro_type, "fixed", (Kind.FIXED, int(avro_type["size"]), None, None))
    if not isinstance(base, str) or base not in _PRIMITIVES:
        return None
    return _logical(avro_type, base, (_PRIMITIVES[base], None, None, None))


def _logical(avro_type: Mapping[str, Any], base: str, plain: Leaf) -> Leaf:
    """``plain`` with the logical type of ``avro_type`` applied as the Python reader does."""
    logical = avro_type.get("logicalType")
    if not logical:
        return plain
    native = _NATIVE_LOGICAL.get(f"{base}-{logical}")
    if native is not None:
        return (native, None, None, None)
    reader = LOGICAL_READERS.get(f"{base}-{logical}")
    if reader is None:
        return plain
    return (plain[0], plain[1], reader, dict(avro_type))


def plan(schema: Mapping[str, Any]) -> Plan | None:
    """The C reader's plan for records of ``schema``, or None if it cannot read them."""
    if schema.get("type") != "record":
        return None
    out: Plan = []
    for field in schema.get("fields", ()):
        avro_type = field["type"]
        branches = avro_type if isinstance(avro_type, list) else [avro_type]
        leaves = [_leaf(b) for b in branches]
        if not leaves or any(leaf is None for leaf in leaves):
            return None
        out.append((str(field["name"]), isinstance(avro_type, list), [*filter(None, leaves)]))
    return out


def native_reader(schema: Mapping[str, Any]) -> Reader | None:
    """A C reader for records of ``schema`` (called like a generated one), or None."""
    steps = plan(schema)
    if steps is None:
        return None
    reader: Reader = _speedups.make_reader(steps)
    return reader
