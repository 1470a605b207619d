"""The canonical string: Avro-Java's ``Schema.toString()`` key order and name references."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strangler.schema_registry.avro_schema import parse_schema

pytestmark = pytest.mark.unit


def canonical(schema: Any) -> str:
    return parse_schema(json.dumps(schema)).text.schema


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"type": "string"}, '"string"'),
        ("int", '"int"'),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            '{"type":"long","logicalType":"timestamp-millis"}',
        ),
        (["null", {"type": "string"}], '["null","string"]'),
        ({"values": "int", "type": "map"}, '{"type":"map","values":"int"}'),
        (
            {"symbols": ["A"], "default": "A", "doc": "d", "name": "E", "type": "enum", "x": 1},
            '{"type":"enum","name":"E","doc":"d","symbols":["A"],"default":"A","x":1}',
        ),
        ({"size": 4, "name": "F", "type": "fixed"}, '{"type":"fixed","name":"F","size":4}'),
        (
            {
                "fields": [
                    {
                        "default": 0,
                        "type": "int",
                        "name": "a",
                        "order": "ignore",
                        "aliases": ["b"],
                        "doc": "x",
                    }
                ],
                "aliases": ["ns.Old"],
                "namespace": "ns",
                "name": "R",
                "type": "record",
            },
            '{"type":"record","name":"R","namespace":"ns","fields":[{"name":"a","type":"int","doc":"x",'
            '"default":0,"order":"ignore","aliases":["b"]}],"aliases":["Old"]}',
        ),
    ],
)
def test_key_order_and_collapsing(given: Any, expected: str) -> None:
    assert canonical(given) == expected


def test_named_types_are_written_once_then_referenced_relative_to_the_namespace() -> None:
    inner = {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}
    other = {"type": "fixed", "name": "F", "namespace": "other", "size": 2}
    schema = {
        "type": "record",
        "name": "a.b.Out",
        "fields": [
            {"name": "i", "type": inner},
            {"name": "j", "type": "In"},
            {"name": "k", "type": "a.b.In"},
            {"name": "f", "type": other},
            {"name": "g", "type": "other.F"},
        ],
    }
    assert canonical(schema) == (
        '{"type":"record","name":"Out","namespace":"a.b","fields":['
        '{"name":"i","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}},'
        '{"name":"j","type":"In"},{"name":"k","type":"In"},'
        '{"name":"f","type":{"type":"fixed","name":"F","namespace":"other","size":2}},'
        '{"name":"g","type":"other.F"}]}'
    )


def test_whitespace_and_key_order_do_not_change_the_text_but_defaults_do() -> None:
    a = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": 1}]}
    spaced = json.dumps(a, indent=8, sort_keys=True)
    assert parse_schema(spaced).text == parse_schema(json.dumps(a)).text
    changed = {**a, "fields": [{"name": "a", "type": "int", "default": 2}]}
    assert canonical(changed) != canonical(a)
