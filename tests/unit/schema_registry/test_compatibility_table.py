"""A table of schema evolutions, each expectation written from the Avro spec's resolution rules.

Every row is (old schema, new schema, can the new read the old, can the old read the new).
BACKWARD asks the first question, FORWARD the second, FULL both and NONE neither. The rules:
https://avro.apache.org/docs/1.12.0/specification/#schema-resolution
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from strangler.schema_registry.avro_schema import parse_schema
from strangler.schema_registry.compatibility import PreviousVersion, check_compatibility
from strangler.schema_registry.model import CompatibilityLevel, Version

pytestmark = pytest.mark.unit

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
# writer -> readers that may read it, besides itself (spec: "the writer's schema may be promoted")
PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


def readable(writer: str, reader: str) -> bool:
    return writer == reader or reader in PROMOTIONS.get(writer, set())


def record(*fields: dict[str, Any], name: str = "R", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, name: str = "E", **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **extra}


Case = tuple[str, Any, Any, bool, bool]


def primitive_cases() -> list[Case]:
    return [
        (f"{w}->{r}", w, r, readable(w, r), readable(r, w))
        for w, r in itertools.product(PRIMITIVES, PRIMITIVES)
    ]


def container_cases() -> list[Case]:
    pairs = [(w, r) for w in PROMOTIONS for r in PROMOTIONS[w]]
    cases: list[Case] = []
    for w, r in [*pairs, ("int", "string"), ("boolean", "int")]:
        back, fwd = readable(w, r), readable(r, w)
        cases.append(
            (
                f"array {w}->{r}",
                {"type": "array", "items": w},
                {"type": "array", "items": r},
                back,
                fwd,
            )
        )
        cases.append(
            (f"map {w}->{r}", {"type": "map", "values": w}, {"type": "map", "values": r}, back, fwd)
        )
        cases.append((f"field {w}->{r}", record(field("f", w)), record(field("f", r)), back, fwd))
        cases.append((f"union {w}->{r}", ["null", w], ["null", r], back, fwd))
    return cases


def field_cases() -> list[Case]:
    base = record(field("a", "int"))
    cases: list[Case] = [
        (
            "add field with default",
            base,
            record(field("a", "int"), field("b", "string", default="x")),
            True,
            True,
        ),
        (
            "add field without default",
            base,
            record(field("a", "int"), field("b", "string")),
            False,
            True,
        ),
        (
            "remove field with default",
            record(field("a", "int"), field("b", "int", default=0)),
            base,
            True,
            True,
        ),
        (
            "remove field without default",
            record(field("a", "int"), field("b", "int")),
            base,
            True,
            False,
        ),
        (
            "reorder fields",
            record(field("a", "int"), field("b", "int")),
            record(field("b", "int"), field("a", "int")),
            True,
            True,
        ),
        (
            "no fields to one with default",
            record(),
            record(field("a", "int", default=1)),
            True,
            True,
        ),
        ("no fields to one without default", record(), record(field("a", "int")), False, True),
        ("change doc only", base, record(field("a", "int", doc="the a")), True, True),
        (
            "change default value",
            record(field("a", "int", default=1)),
            record(field("a", "int", default=2)),
            True,
            True,
        ),
        (
            "add null default to optional",
            record(field("a", ["null", "int"])),
            record(field("a", ["null", "int"], default=None)),
            True,
            True,
        ),
        ("rename with alias", base, record(field("z", "int", aliases=["a"])), True, False),
        (
            "rename with alias both ways",
            record(field("a", "int", aliases=["z"])),
            record(field("z", "int", aliases=["a"])),
            True,
            True,
        ),
        ("rename without alias", base, record(field("z", "int")), False, False),
        ("rename, default on new", base, record(field("z", "int", default=0)), True, False),
        (
            "rename, defaults on both",
            record(field("a", "int", default=0)),
            record(field("z", "int", default=0)),
            True,
            True,
        ),
        ("field order descending", base, record(field("a", "int", order="descending")), True, True),
        ("custom field property", base, record(field("a", "int", tag="pii")), True, True),
        ("custom record property", base, record(field("a", "int"), owner="team"), True, True),
    ]
    for t, default in [
        ("long", 0),
        ("string", ""),
        ("boolean", False),
        ("double", 1.5),
        ("bytes", ""),
        (["null", "string"], None),
        ({"type": "array", "items": "int"}, []),
        ({"type": "map", "values": "int"}, {}),
    ]:
        added = record(field("a", "int"), field("b", t, default=default))
        cases.append((f"add {json.dumps(t)} field with default", base, added, True, True))
        cases.append(
            (
                f"add {json.dumps(t)} field without default",
                base,
                record(field("a", "int"), field("b", t)),
                False,
                True,
            )
        )
    return cases


def enum_cases() -> list[Case]:
    ab, abc = enum("A", "B"), enum("A", "B", "C")
    return [
        ("enum same", ab, enum("A", "B"), True, True),
        ("enum add symbol", ab, abc, True, False),
        ("enum remove symbol", abc, ab, False, True),
        ("enum reorder symbols", ab, enum("B", "A"), True, True),
        (
            "enum add symbol, old has default",
            enum("A", "B", default="A"),
            enum("A", "B", "C", default="A"),
            True,
            True,
        ),
        ("enum remove symbol, new has default", abc, enum("A", "B", default="A"), True, True),
        ("enum replace symbol", ab, enum("A", "C"), False, False),
        (
            "enum replace symbol, both defaults",
            enum("A", "B", default="A"),
            enum("A", "C", default="A"),
            True,
            True,
        ),
        ("enum renamed", ab, enum("A", "B", name="F"), False, False),
        ("enum renamed with alias", ab, enum("A", "B", name="F", aliases=["E"]), True, False),
        ("enum namespace only", ab, enum("A", "B", namespace="x.y"), True, True),
        ("enum to string", ab, "string", False, False),
        ("enum in field, add symbol", record(field("e", ab)), record(field("e", abc)), True, False),
        (
            "enum in array, remove symbol",
            {"type": "array", "items": abc},
            {"type": "array", "items": ab},
            False,
            True,
        ),
    ]


def union_cases() -> list[Case]:
    return [
        ("T to union with T", "string", ["null", "string"], True, False),
        ("union with T to T", ["null", "string"], "string", False, True),
        ("add union branch", ["null", "string"], ["null", "string", "int"], True, False),
        ("remove union branch", ["null", "string", "int"], ["null", "string"], False, True),
        ("reorder union", ["null", "string"], ["string", "null"], True, True),
        ("union promotes int to long", ["null", "int"], ["null", "long"], True, False),
        ("union to promoted single", ["int", "long"], "long", True, True),
        ("union to unrelated single", ["int", "string"], "long", False, False),
        ("single to union by promotion", "int", ["null", "long"], True, False),
        ("single to union without it", "int", ["null", "string"], False, False),
        (
            "union of records, add record",
            [record(name="A"), record(name="B")],
            [record(name="A"), record(name="B"), record(name="C")],
            True,
            False,
        ),
        ("union of bytes to string union", ["null", "bytes"], ["null", "string"], True, True),
        (
            "nullable field to required",
            record(field("a", ["null", "int"], default=None)),
            record(field("a", "int")),
            False,
            True,
        ),
        (
            "required field to nullable",
            record(field("a", "int")),
            record(field("a", ["null", "int"], default=None)),
            True,
            False,
        ),
        (
            "union in array items",
            {"type": "array", "items": ["null", "int"]},
            {"type": "array", "items": ["null", "int", "string"]},
            True,
            False,
        ),
    ]


def named_cases() -> list[Case]:
    fixed4 = {"type": "fixed", "name": "F", "size": 4}
    return [
        (
            "record renamed",
            record(field("a", "int")),
            record(field("a", "int"), name="S"),
            False,
            False,
        ),
        (
            "record renamed with alias",
            record(field("a", "int")),
            record(field("a", "int"), name="S", aliases=["R"]),
            True,
            False,
        ),
        (
            "record namespace only",
            record(field("a", "int"), namespace="a"),
            record(field("a", "int"), namespace="b"),
            True,
            True,
        ),
        (
            "record namespace added",
            record(field("a", "int")),
            record(field("a", "int"), namespace="b"),
            True,
            True,
        ),
        (
            "record to map",
            record(field("a", "int")),
            {"type": "map", "values": "int"},
            False,
            False,
        ),
        (
            "record to array",
            record(field("a", "int")),
            {"type": "array", "items": "int"},
            False,
            False,
        ),
        (
            "array to map",
            {"type": "array", "items": "int"},
            {"type": "map", "values": "int"},
            False,
            False,
        ),
        ("fixed same", fixed4, dict(fixed4), True, True),
        ("fixed size change", fixed4, {**fixed4, "size": 8}, False, False),
        ("fixed renamed", fixed4, {**fixed4, "name": "G"}, False, False),
        (
            "fixed renamed with alias",
            fixed4,
            {**fixed4, "name": "G", "aliases": ["F"]},
            True,
            False,
        ),
        ("fixed to bytes", fixed4, "bytes", False, False),
        ("fixed namespace only", fixed4, {**fixed4, "namespace": "n"}, True, True),
    ]


def logical_cases() -> list[Case]:
    ts_ms = {"type": "long", "logicalType": "timestamp-millis"}
    ts_us = {"type": "long", "logicalType": "timestamp-micros"}
    date = {"type": "int", "logicalType": "date"}
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}
    uuid = {"type": "string", "logicalType": "uuid"}
    return [
        ("timestamp-millis to micros", ts_ms, ts_us, True, True),
        ("long to timestamp-millis", "long", ts_ms, True, True),
        ("date to int", date, "int", True, True),
        ("date to timestamp-millis", date, ts_ms, True, False),
        ("decimal precision change", dec, {**dec, "precision": 6}, True, True),
        ("decimal to string", dec, "string", True, True),
        ("uuid to string", uuid, "string", True, True),
        ("uuid to bytes", uuid, "bytes", True, True),
        (
            "time-millis to time-micros",
            {"type": "int", "logicalType": "time-millis"},
            {"type": "long", "logicalType": "time-micros"},
            True,
            False,
        ),
        (
            "logical field in record",
            record(field("t", ts_ms)),
            record(field("t", ts_us)),
            True,
            True,
        ),
    ]


def nested_cases() -> list[Case]:
    inner = record(field("x", "int"), name="Inner")
    inner_plus = record(field("x", "int"), field("y", "int", default=0), name="Inner")
    inner_req = record(field("x", "int"), field("y", "int"), name="Inner")
    inner_long = record(field("x", "long"), name="Inner")
    return [
        (
            "nested add field with default",
            record(field("i", inner)),
            record(field("i", inner_plus)),
            True,
            True,
        ),
        (
            "nested add field without default",
            record(field("i", inner)),
            record(field("i", inner_req)),
            False,
            True,
        ),
        (
            "nested remove field without default",
            record(field("i", inner_req)),
            record(field("i", inner)),
            True,
            False,
        ),
        (
            "nested promotion",
            record(field("i", inner)),
            record(field("i", inner_long)),
            True,
            False,
        ),
        (
            "nested in array",
            {"type": "array", "items": inner},
            {"type": "array", "items": inner_req},
            False,
            True,
        ),
        (
            "nested in map",
            {"type": "map", "values": inner},
            {"type": "map", "values": inner_long},
            True,
            False,
        ),
        ("nested in union", ["null", inner], ["null", inner_plus], True, True),
        (
            "nested renamed",
            record(field("i", inner)),
            record(field("i", {**inner, "name": "Other"})),
            False,
            False,
        ),
        (
            "recursive list unchanged",
            record(field("next", ["null", "R"], default=None)),
            record(field("next", ["null", "R"], default=None)),
            True,
            True,
        ),
        (
            "recursive list add field",
            record(field("next", ["null", "R"], default=None)),
            record(field("next", ["null", "R"], default=None), field("v", "int", default=0)),
            True,
            True,
        ),
    ]


CASES = (
    primitive_cases()
    + container_cases()
    + field_cases()
    + enum_cases()
    + union_cases()
    + named_cases()
    + logical_cases()
    + nested_cases()
)


def judge(old: Any, new: Any, level: CompatibilityLevel) -> bool:
    previous = [PreviousVersion(Version(1), parse_schema(json.dumps(old)))]
    return check_compatibility(parse_schema(json.dumps(new)), previous, level).is_compatible


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("name", "old", "new", "backward", "forward"), CASES, ids=[c[0] for c in CASES]
)
def test_levels_follow_the_resolution_rules(
    name: str, old: Any, new: Any, backward: bool, forward: bool
) -> None:
    assert judge(old, new, CompatibilityLevel.NONE)
    assert judge(old, new, CompatibilityLevel.BACKWARD) is backward
    assert judge(old, new, CompatibilityLevel.FORWARD) is forward
    assert judge(old, new, CompatibilityLevel.FULL) is (backward and forward)


def chain(level: CompatibilityLevel, *schemas: Any) -> bool:
    *old, new = schemas
    previous = [
        PreviousVersion(Version(i + 1), parse_schema(json.dumps(s))) for i, s in enumerate(old)
    ]
    return check_compatibility(parse_schema(json.dumps(new)), previous, level).is_compatible


def test_transitive_levels_check_every_version() -> None:
    v1 = record(field("a", "int"))
    v2 = record(field("a", "int"), field("b", "int", default=0))
    v3 = record(field("a", "int"), field("b", "int"))  # reads v2 but not v1
    assert chain(CompatibilityLevel.BACKWARD, v1, v2, v3)
    assert not chain(CompatibilityLevel.BACKWARD_TRANSITIVE, v1, v2, v3)
    assert chain(CompatibilityLevel.FULL, v1, v2, v3)
    assert not chain(CompatibilityLevel.FULL_TRANSITIVE, v1, v2, v3)
    assert chain(CompatibilityLevel.FORWARD, v3, v2, v1)
    assert not chain(CompatibilityLevel.FORWARD_TRANSITIVE, v3, v2, v1)


def test_verbose_messages_name_the_problem_and_old_version() -> None:
    old = record(field("a", "int"))
    new = record(field("a", "int"), field("b", "int"))
    previous = [PreviousVersion(Version(7), parse_schema(json.dumps(old)))]
    result = check_compatibility(
        parse_schema(json.dumps(new)), previous, CompatibilityLevel.BACKWARD
    )
    assert not result.is_compatible
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in result.messages)
    assert "{oldSchemaVersion: 7}" in result.messages
    assert "{validateFields: 'false', compatibility: 'BACKWARD'}" in result.messages
