from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.core import avro

pytestmark = pytest.mark.unit

VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("id", "id"),
        ("Order Date", "Order_Date"),
        ("1st", "_1st"),
        ("Grüße", "Gr__e"),
        ("a.b-c", "a_b_c"),
        ("", "_"),
        ("_x", "_x"),
    ],
)
def test_avro_name(name: str, expected: str) -> None:
    assert avro.avro_name(name) == expected


@given(st.text(max_size=30))
def test_avro_name_is_always_valid(name: str) -> None:
    assert VALID.match(avro.avro_name(name))


@given(st.lists(st.text(max_size=5), max_size=12, unique=True))
def test_unique_names_are_valid_and_unique(names: list[str]) -> None:
    out = avro.unique_avro_names(names)
    assert len(set(out)) == len(names)
    assert all(VALID.match(n) for n in out)


def test_collisions_get_suffixes_in_order() -> None:
    assert avro.unique_avro_names(["a-b", "a b", "a_b", "a_b_2"]) == [
        "a_b",
        "a_b_2",
        "a_b_3",
        "a_b_2_2",
    ]


def test_namespace_sanitises_each_part() -> None:
    assert avro.avro_namespace("cdc", "my-schema", "", "1table") == "cdc.my_schema._1table"


def test_nullable() -> None:
    assert avro.nullable("long") == ["null", "long"]
    assert avro.nullable(["string", "null", "long"]) == ["null", "string", "long"]
    assert avro.nullable(avro.DATE) == ["null", {"type": "int", "logicalType": "date"}]


def test_decimal_and_array() -> None:
    assert avro.decimal(10, 2) == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": 10,
        "scale": 2,
    }
    assert avro.array("int") == {"type": "array", "items": "int"}
