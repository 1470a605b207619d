"""What the stream has told us about relations and types, by oid.

pgoutput sends a Relation message before the first change to a relation in a session and again
after its definition changes (and a Type message before a Relation that uses a non-builtin
type). Row changes carry only the relation oid, so every change is read against the latest
Relation seen for that oid. Oids are stable across a table's renames; a new Relation simply
replaces the old entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from strangler.connectors.postgres.errors import UnknownRelation
from strangler.connectors.postgres.messages import DataType, Oid, Relation
from strangler.core.events import TableId


@dataclass(slots=True)
class RelationCache:
    relations: dict[Oid, Relation] = field(default_factory=dict)
    types: dict[Oid, DataType] = field(default_factory=dict)

    def add_relation(self, relation: Relation) -> bool:
        """Remember ``relation``; True if it is new or differs from what was known (a schema
        change, or a rename), False for the same definition sent again (a new session)."""
        previous = self.relations.get(relation.oid)
        self.relations[relation.oid] = relation
        return previous is None or _without_xid(previous) != _without_xid(relation)

    def add_type(self, data_type: DataType) -> None:
        self.types[data_type.oid] = data_type

    def get(self, oid: Oid) -> Relation:
        try:
            return self.relations[oid]
        except KeyError:
            raise UnknownRelation(oid) from None


def _without_xid(relation: Relation) -> Relation:
    """The same definition sent inside and outside a streamed transaction differs only in xid."""
    return replace(relation, xid=None) if relation.xid is not None else relation


def table_id(relation: Relation) -> TableId:
    """The relation's table; pgoutput abbreviates ``pg_catalog`` as the empty namespace."""
    return TableId(relation.namespace or "pg_catalog", relation.name)
