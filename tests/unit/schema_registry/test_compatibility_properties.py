"""Property tests: random schemas and evolutions; our answers equal the reference checker's.

The reference is Apache avro's ``ReaderWriterCompatibilityChecker`` applied to the user's own
text. Ours goes through the registry's path (validation, canonical form, stored text re-parsed
leniently, the level's choice of pairs), so a canonicalisation that changed meaning, or a level
that picked the wrong direction or versions, would show up as a difference.
"""

from __future__ import annotations

import json
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.schema_registry.avro_schema import parse_schema
from strangler.schema_registry.canonical import canonical_string
from strangler.schema_registry.compatibility import PreviousVersion, check_compatibility
from strangler.schema_registry.model import CompatibilityLevel, Version

pytestmark = pytest.mark.unit

PRIMITIVE = st.sampled_from(
    ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
)
NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
DEFAULTS = {
    "null": None,
    "boolean": False,
    "int": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "bytes": "",
    "string": "",
}


@st.composite
def field_types(draw: st.DrawFn, depth: int = 0) -> Any:
    kinds = ["primitive", "union", "array", "map", "enum"] + (["record"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "primitive":
        return draw(PRIMITIVE)
    if kind == "union":
        return draw(st.lists(PRIMITIVE, min_size=1, max_size=3, unique=True))
    if kind == "array":
        return {"type": "array", "items": draw(PRIMITIVE)}
    if kind == "map":
        return {"type": "map", "values": draw(PRIMITIVE)}
    if kind == "enum":
        symbols = draw(
            st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=4, unique=True)
        )
        enum: dict[str, Any] = {"type": "enum", "name": f"E{depth}", "symbols": symbols}
        if draw(st.booleans()):
            enum["default"] = symbols[0]
        return enum
    return draw(records(depth + 1))


def default_for(type_: Any) -> Any:
    if isinstance(type_, str):
        return DEFAULTS[type_]
    if isinstance(type_, list):
        return default_for(type_[0])
    if type_["type"] == "record":
        return {f["name"]: default_for(f["type"]) for f in type_["fields"]}
    return {"array": [], "map": {}}.get(type_["type"], type_.get("symbols", [None])[0])


@st.composite
def fields(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    type_ = draw(field_types(depth))
    field: dict[str, Any] = {"name": draw(NAMES), "type": type_}
    if draw(st.booleans()):
        field["default"] = default_for(type_)
    return field


@st.composite
def records(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    drawn = draw(st.lists(fields(depth), max_size=4, unique_by=lambda f: f["name"]))
    return {"type": "record", "name": f"R{depth}", "fields": drawn}


@st.composite
def evolutions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record and a changed copy: fields added, removed, retyped or given defaults."""
    old = draw(records())
    new = json.loads(json.dumps(old))
    for _ in range(draw(st.integers(1, 3))):
        _mutate(draw, new)
    return unique_names(old), unique_names(new)


def unique_names(schema: Any, counter: list[int] | None = None) -> Any:
    """Name every named type by its place in a walk, so no name is defined twice."""
    counter = [0] if counter is None else counter
    if isinstance(schema, list):
        return [unique_names(branch, counter) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    renamed = dict(schema)
    if renamed["type"] in ("record", "enum"):
        counter[0] += 1
        renamed["name"] = f"{renamed['type'].title()}{counter[0]}"
    if renamed["type"] == "record":
        renamed["fields"] = [
            {**f, "type": unique_names(f["type"], counter)} for f in renamed["fields"]
        ]
    return renamed


def _mutate(draw: st.DrawFn, record: dict[str, Any]) -> None:
    action = draw(st.sampled_from(["add", "remove", "retype", "default"]))
    names = [f["name"] for f in record["fields"]]
    if action == "add" or not names:
        field = draw(fields(1))
        if field["name"] not in names:
            record["fields"].append(field)
        return
    index = draw(st.integers(0, len(names) - 1))
    if action == "remove":
        del record["fields"][index]
    elif action == "retype":
        record["fields"][index] = {"name": names[index], "type": draw(field_types(1))}
    else:
        record["fields"][index]["default"] = default_for(record["fields"][index]["type"])


def reference_can_read(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    return result.compatibility is SchemaCompatibilityType.compatible


def ours(old: dict[str, Any], new: dict[str, Any], level: CompatibilityLevel) -> bool:
    stored = parse_schema(parse_schema(json.dumps(old)).text.schema, new=False)
    previous = [PreviousVersion(Version(1), stored)]
    return check_compatibility(parse_schema(json.dumps(new)), previous, level).is_compatible


@settings(max_examples=300, deadline=None)
@given(evolutions())
def test_levels_agree_with_the_reference_checker(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = pair
    backward, forward = reference_can_read(new, old), reference_can_read(old, new)
    assert ours(old, new, CompatibilityLevel.BACKWARD) is backward
    assert ours(old, new, CompatibilityLevel.FORWARD) is forward
    assert ours(old, new, CompatibilityLevel.FULL) is (backward and forward)
    assert ours(old, new, CompatibilityLevel.NONE)


@settings(max_examples=200, deadline=None)
@given(records().map(unique_names))
def test_canonical_form_is_a_fixed_point_and_keeps_meaning(record: dict[str, Any]) -> None:
    canonical = parse_schema(json.dumps(record)).text.schema
    assert canonical_string(json.loads(canonical)) == canonical
    assert avro.schema.parse(canonical) == avro.schema.parse(json.dumps(record))
