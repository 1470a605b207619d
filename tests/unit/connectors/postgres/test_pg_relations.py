from __future__ import annotations

import pytest

from strangler.connectors.postgres.errors import UnknownRelation
from strangler.connectors.postgres.messages import Oid, Relation, RelationColumn, ReplicaIdentity
from strangler.connectors.postgres.relations import RelationCache, table_id
from strangler.core.events import TableId

pytestmark = pytest.mark.unit

COLUMNS = (RelationColumn(True, "id", Oid(23), -1),)
ORDERS = Relation(None, Oid(7), "shop", "orders", ReplicaIdentity.DEFAULT, COLUMNS)


def test_reports_new_and_changed_definitions() -> None:
    cache = RelationCache()
    assert cache.add_relation(ORDERS) is True
    assert cache.add_relation(ORDERS) is False  # sent again, e.g. after reconnecting
    streamed = Relation(99, Oid(7), "shop", "orders", ReplicaIdentity.DEFAULT, COLUMNS)
    assert cache.add_relation(streamed) is False  # same definition inside a stream block
    wider = Relation(None, Oid(7), "shop", "orders", ReplicaIdentity.DEFAULT,
                     (*COLUMNS, RelationColumn(False, "note", Oid(25), -1)))  # fmt: skip
    assert cache.add_relation(wider) is True
    assert cache.get(Oid(7)) == wider


def test_unknown_relation() -> None:
    with pytest.raises(UnknownRelation):
        RelationCache().get(Oid(1))


def test_table_id_names_pg_catalog() -> None:
    assert table_id(ORDERS) == TableId("shop", "orders")
    empty = Relation(None, Oid(1), "", "t", ReplicaIdentity.FULL, ())
    assert table_id(empty) == TableId("pg_catalog", "t")
