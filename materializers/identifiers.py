"""SQL identifiers, always quoted: tables and columns with mixed case, reserved words and
non-ASCII letters exist in real schemas.

SQLite and PostgreSQL share the SQL standard's rule: wrap the name in double quotes and double
every double quote inside it. A NUL character cannot be represented in either and is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from strangler.materializers.errors import MaterializerError


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (inner double quotes doubled)."""
    if not name or "\x00" in name:
        raise MaterializerError(f"{name!r} cannot be an SQL identifier (empty or has NUL)")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str | None, name: str) -> str:
    """The quoted schema, a dot and the quoted name; just the quoted name without a schema."""
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def column_list(names: Iterable[str]) -> str:
    """The quoted names, separated by commas."""
    return ", ".join(quote(n) for n in names)
