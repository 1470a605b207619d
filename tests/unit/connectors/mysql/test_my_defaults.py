"""``COLUMN_DEFAULT`` as MariaDB and MySQL spell it: constants (their text) and expressions."""

from __future__ import annotations

import pytest

from strangler.connectors.mysql.catalog import constant_default
from strangler.core.schema import Default

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("stated", "default"),
    [
        (None, None),
        ("'basic'", Default("'basic'", True, "basic")),
        ("'it''s'", Default("'it''s'", True, "it's")),
        ("''", Default("''", True, "")),
        ("'NULL'", Default("'NULL'", True, "NULL")),
        ("NULL", Default("NULL", True, None)),
        ("-5", Default("-5", True, "-5")),
        ("1.25", Default("1.25", True, "1.25")),
        ("current_timestamp()", Default("current_timestamp()")),
        ("(1 + 2)", Default("(1 + 2)")),
        ("uuid()", Default("uuid()")),
        ("b'101'", Default("b'101'")),
    ],
)
def test_mariadb_spelling(stated: str | None, default: Default | None) -> None:
    assert constant_default(stated, "", mariadb=True) == default


def test_mysql_spelling() -> None:
    assert constant_default("basic", "", mariadb=False) == Default("'basic'", True, "basic")
    assert constant_default("it's", "", mariadb=False) == Default("'it''s'", True, "it's")
    generated = constant_default("CURRENT_TIMESTAMP", "DEFAULT_GENERATED", mariadb=False)
    assert generated == Default("CURRENT_TIMESTAMP")
