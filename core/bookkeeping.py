"""Names of the tables a view keeps for itself in its target database (offsets, table shapes,
dead letters, staging, delete memory): never data, so never worth capturing, even when a view
lives in a database that a source also captures."""

from __future__ import annotations

PREFIX = "_strangler_"
"""Tables of a view's own bookkeeping start so (``_strangler_offsets``, ...)."""
DELETED_SUFFIX = "__strangler_deleted"
"""A view table's memory of deleted keys: ``<table>__strangler_deleted``."""


def is_bookkeeping(table: str) -> bool:
    """Whether ``table`` (a table name without its schema) is one a view keeps for itself."""
    return table.startswith(PREFIX) or table.endswith(DELETED_SUFFIX)
