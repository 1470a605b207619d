"""Column defaults as the catalog prints them: which are constants (and their text value), and
the refusal's fix line for a NOT NULL column whose default is not one."""

from __future__ import annotations

import pytest

from strangler.connectors.postgres.catalog import constant_text
from strangler.connectors.postgres.registrar import IncompatibleSchema, explain_refusal
from strangler.core import avro
from strangler.core.events import TableId
from strangler.core.schema import Column, Default, TableSchema

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("'basic'::text", "basic"),
        ("('basic'::character varying)::text", "basic"),
        ("'it''s'::text", "it's"),
        ("'a::b'::text", "a::b"),
        ("5", "5"),
        ("(-1)", "-1"),
        ("'-1'::integer", "-1"),
        ("1.25", "1.25"),
        ("-1.5e3", "-1.5e3"),
        ("'1.50'::numeric(10,2)", "1.50"),
        ("true", "t"),
        ("false", "f"),
        ("NULL::text", None),
        ("'2020-01-02'::date", "2020-01-02"),
        ("'2020-01-02 00:00:00+00'::timestamp with time zone", "2020-01-02 00:00:00+00"),
        ("'{}'::integer[]", "{}"),
        ("'sad'::\"Mood\"", "sad"),
        ("'sad'::public.mood", "sad"),
    ],
)
def test_constants_and_their_text(expression: str, text: str | None) -> None:
    assert constant_text(expression) == (True, text)


@pytest.mark.parametrize(
    "expression",
    [
        "now()",
        "(now())::text",
        "CURRENT_TIMESTAMP",
        "nextval('accounts_id_seq'::regclass)",
        "gen_random_uuid()",
        "(1 + 2)",
        "('a'::text || 'b'::text)",
        "'a'::text || 'b'::text",
    ],
)
def test_computed_defaults_are_not_constants(expression: str) -> None:
    assert constant_text(expression) == (False, None)


REFUSAL = (
    "schema change refused for t-value: Schema being registered is incompatible with an earlier "
    "schema; {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'created' "
    "at path '/fields/2' in the new schema has no default value and is missing in the old "
    'schema\', additionalInfo:\'created\'}, {oldSchema: \'{"fields": [{"name": "id"}]}\'}'
)


def _table(*columns: Column) -> TableSchema:
    return TableSchema(TableId("public", "t"), (Column("id", avro.LONG, False), *columns), ("id",))


def test_a_computed_default_gets_its_own_fix_line() -> None:
    created = Column("created", avro.TIMESTAMP_MICROS, False, default=Default("now()"))
    error = explain_refusal(IncompatibleSchema(REFUSAL, fix="general"), _table(created))
    assert error.message == REFUSAL
    assert error.fix is not None
    assert "the default of column created (now()) is not a constant" in error.fix
    assert "make the column nullable, or add it in two steps" in error.fix


def test_no_default_at_all_says_so() -> None:
    created = Column("created", avro.TIMESTAMP_MICROS, False)
    error = explain_refusal(IncompatibleSchema(REFUSAL, fix="general"), _table(created))
    assert error.fix is not None and "NOT NULL without a default" in error.fix


def test_other_refusals_keep_the_general_fix() -> None:
    other = REFUSAL.replace("READER_FIELD_MISSING_DEFAULT_VALUE", "TYPE_MISMATCH")
    created = Column("created", avro.TIMESTAMP_MICROS, False, default=Default("now()"))
    original = IncompatibleSchema(other, fix="general")
    assert explain_refusal(original, _table(created)) is original
