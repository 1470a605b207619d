from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from strangler.connectors.postgres.errors import PostgresError, ValueParseError
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Oid,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    TupleData,
)
from strangler.connectors.postgres.rows import RowDecoder, table_schema
from strangler.connectors.postgres.types import BUILTIN_ARRAYS, SCALARS, TypeInfo, resolve
from strangler.core import avro
from strangler.core.events import TableId
from strangler.core.schema import SchemaError, value_record

pytestmark = pytest.mark.unit

MOOD, MOOD_ARRAY, MONEY_DOMAIN, BOX_ARRAY = 90001, 90002, 90003, 1020
CATALOG = {
    MOOD: TypeInfo(Oid(MOOD), "public", "mood", "e", "E", Oid(0), Oid(0), -1),
    MOOD_ARRAY: TypeInfo(Oid(MOOD_ARRAY), "public", "_mood", "b", "A", Oid(MOOD), Oid(0), -1),
    MONEY_DOMAIN: TypeInfo(
        Oid(MONEY_DOMAIN), "public", "price", "d", "N", Oid(0), Oid(1700), (10 << 16 | 2) + 4
    ),
    BOX_ARRAY: TypeInfo(Oid(BOX_ARRAY), "pg_catalog", "_box", "b", "A", Oid(603), Oid(0), -1, ";"),
}


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | (scale & 0x7FF)) + 4


def test_every_builtin_array_has_a_scalar_element() -> None:
    assert set(BUILTIN_ARRAYS.values()) <= set(SCALARS)


@pytest.mark.parametrize(
    ("precision", "scale", "expected"),
    [(10, 2, avro.decimal(10, 2)), (2, -3, avro.decimal(5, 0)), (3, 5, avro.decimal(5, 5))],
)
def test_numeric_with_typmod_is_a_decimal(precision: int, scale: int, expected: object) -> None:
    column_type = resolve(1700, numeric_typmod(precision, scale), {})
    assert column_type.avro_type == expected
    assert column_type.parse("-1.25") == Decimal("-1.25")


def test_unconstrained_numeric_is_exact_text() -> None:
    column_type = resolve(1700, -1, {})
    assert column_type.avro_type == "string" and column_type.parse("NaN") == "NaN"


def test_builtin_array() -> None:
    column_type = resolve(1007, -1, {})
    assert column_type.avro_type == {"type": "array", "items": ["null", "int"]}
    assert column_type.parse("{1,NULL,-3}") == [1, None, -3]
    assert column_type.pg_name == "integer[]"


def test_array_of_numeric_keeps_the_column_typmod() -> None:
    column_type = resolve(1231, numeric_typmod(5, 1), {})
    assert column_type.avro_type == avro.array(avro.nullable(avro.decimal(5, 1)))
    assert column_type.parse("{1.5}") == [Decimal("1.5")]


def test_enum_enum_array_domain_and_delimiter_from_catalog() -> None:
    assert resolve(MOOD, -1, CATALOG).parse("happy") == "happy"
    assert resolve(MOOD_ARRAY, -1, CATALOG).parse('{sad,"very happy"}') == ["sad", "very happy"]
    domain = resolve(MONEY_DOMAIN, -1, CATALOG)
    assert domain.avro_type == avro.decimal(10, 2) and domain.parse("3.10") == Decimal("3.10")
    boxes = resolve(BOX_ARRAY, -1, CATALOG)
    assert boxes.parse("{(1,1),(0,0);(2,2),(1,1)}") == ["(1,1),(0,0)", "(2,2),(1,1)"]


def test_unknown_type_is_its_text_form() -> None:
    column_type = resolve(123456, -1, {})
    assert column_type.avro_type == "string" and column_type.parse("<x/>") == "<x/>"
    xml = resolve(142, -1, {})
    assert xml.avro_type == "string"


RELATION = Relation(
    None,
    Oid(1),
    "app",
    "things",
    ReplicaIdentity.DEFAULT,
    (
        RelationColumn(True, "id", Oid(2950), -1),
        RelationColumn(False, "price", Oid(1700), numeric_typmod(6, 2)),
        RelationColumn(False, "doc", Oid(25), -1),
        RelationColumn(False, "mood", Oid(MOOD), -1),
    ),
)
UID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_row_decoder() -> None:
    decoder = RowDecoder(CATALOG)
    row = decoder(RELATION, TupleData((UID, "-1.50", UNCHANGED_TOAST, None)))
    assert row == {
        "id": uuid.UUID(UID),
        "price": Decimal("-1.50"),
        "doc": UNCHANGED_TOAST,
        "mood": None,
    }


def test_row_decoder_names_the_column_on_error() -> None:
    with pytest.raises(ValueParseError) as info:
        RowDecoder(CATALOG)(RELATION, TupleData((UID, "NaN", None, None)))
    assert "app.things.price" in str(info.value)
    with pytest.raises(ValueParseError) as info:
        RowDecoder(CATALOG)(RELATION, TupleData(("not-a-uuid", None, None, None)))
    assert "app.things.id" in str(info.value)


def test_row_decoder_refuses_binary_values() -> None:
    with pytest.raises(PostgresError):
        RowDecoder(CATALOG)(RELATION, TupleData((b"\x00", None, None, None)))


def test_table_schema() -> None:
    schema = table_schema(RELATION, CATALOG, not_null=frozenset({"price"}))
    assert schema.table == TableId("app", "things") and schema.key == ("id",)
    assert [(c.name, c.nullable, c.source_type) for c in schema.columns] == [
        ("id", False, "uuid"),
        ("price", False, "numeric(6,2)"),
        ("doc", True, "text"),
        ("mood", True, "mood"),
    ]


def test_unchanged_toast_cannot_reach_avro() -> None:
    row = RowDecoder(CATALOG)(RELATION, TupleData((UID, "1.00", UNCHANGED_TOAST, None)))
    with pytest.raises(SchemaError) as info:
        value_record(table_schema(RELATION, CATALOG), row)
    assert "doc" in str(info.value) and "UNCHANGED_TOAST" in str(info.value)
