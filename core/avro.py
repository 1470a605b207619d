"""The Avro vocabulary shared by every source and sink: types, logical types, valid names.

Types are plain JSON-shaped values (``"long"``, ``{"type": "int", "logicalType": "date"}``,
``["null", "string"]``), exactly what a schema registry stores and fastavro parses; building them
through these helpers keeps spelling mistakes out of connectors.

Name rule (``avro_name``): Avro names must match ``[A-Za-z_][A-Za-z0-9_]*``. Every other
character (space, dash, dot, any non-ASCII letter) becomes ``_``, and a name that would start
with a digit (or be empty) gets a leading ``_``. ``"Order Date"`` → ``Order_Date``,
``"1st"`` → ``_1st``, ``"Grüße"`` → ``Gr__e``. Distinct columns can collide after this
(``"a-b"`` and ``"a b"``); ``unique_avro_names`` then appends ``_2``, ``_3``… in column order.
The original column name is kept in the field property ``ORIGINAL_NAME`` so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

AvroType = str | dict[str, Any] | list[Any]
"""An Avro type in its JSON form."""

ORIGINAL_NAME: Final = "strangler.column"
"""Field property holding the source column's exact name when ``name`` had to be sanitised."""

NULL: Final = "null"
BOOLEAN: Final = "boolean"
INT: Final = "int"
LONG: Final = "long"
FLOAT: Final = "float"
DOUBLE: Final = "double"
BYTES: Final = "bytes"
STRING: Final = "string"

DATE: Final[dict[str, Any]] = {"type": INT, "logicalType": "date"}
"""Days since 1970-01-01."""
TIME_MICROS: Final[dict[str, Any]] = {"type": LONG, "logicalType": "time-micros"}
TIMESTAMP_MICROS: Final[dict[str, Any]] = {"type": LONG, "logicalType": "timestamp-micros"}
"""Microseconds since 1970-01-01 00:00 UTC."""
UUID: Final[dict[str, Any]] = {"type": STRING, "logicalType": "uuid"}

_INVALID = re.compile(r"[^A-Za-z0-9_]")


def decimal(precision: int, scale: int) -> dict[str, Any]:
    """A decimal with at most ``precision`` digits, ``scale`` of them after the point."""
    return {"type": BYTES, "logicalType": "decimal", "precision": precision, "scale": scale}


def array(items: AvroType) -> dict[str, Any]:
    return {"type": "array", "items": items}


def nullable(avro_type: AvroType) -> list[Any]:
    """``["null", T]``: null first, so a field of this type may default to null."""
    if isinstance(avro_type, list):
        return (
            avro_type if avro_type[:1] == [NULL] else [NULL, *(t for t in avro_type if t != NULL)]
        )
    return [NULL, avro_type]


def avro_name(name: str) -> str:
    """``name`` made a valid Avro name by the rule in the module docstring."""
    cleaned = _INVALID.sub("_", name)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else "_" + cleaned


def avro_namespace(*parts: str) -> str:
    """A dotted namespace whose every component is a valid Avro name."""
    return ".".join(avro_name(part) for part in parts if part)


def unique_avro_names(names: Iterable[str]) -> list[str]:
    """``avro_name`` of each, with ``_2``, ``_3``… appended where two would collide."""
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        base = candidate = avro_name(name)
        suffix = 2
        while candidate in taken:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        out.append(candidate)
    return out
