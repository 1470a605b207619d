"""Recognising the DDL statements that change a table's shape, from a binlog Query event.

Only the statement's head is read: its verb and the table names it affects. The column changes
themselves need no parsing: the TABLE_MAP before every later row event describes the new
columns (``binlog_row_metadata=FULL``). Names may be quoted with backquotes (doubled backquotes
inside) or bare, and qualified with a database; an unqualified name belongs to the Query
event's default database. Comments before the verb are skipped (``/* … */``, ``-- …``, ``#``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from strangler.core.events import TableId


class DdlKind(StrEnum):
    CREATE = "create"
    ALTER = "alter"
    DROP = "drop"
    RENAME = "rename"
    TRUNCATE = "truncate"


@dataclass(frozen=True, slots=True)
class Ddl:
    kind: DdlKind
    tables: tuple[TableId, ...]
    """Every table named; for RENAME both old and new names, in statement order."""
    statement: str


_COMMENT = re.compile(r"^\s*(?:/\*.*?\*/|--[^\n]*\n|#[^\n]*\n)", re.S)
_NAME = r"(?:`(?:[^`]|``)+`|[\w$\u0080-\uffff]+)"
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_HEADS = [
    (DdlKind.CREATE, re.compile(
        r"^create\s+(?:or\s+replace\s+)?(?:temporary\s+)?table\s+(?:if\s+not\s+exists\s+)?", re.I)),
    (DdlKind.ALTER, re.compile(
        r"^alter\s+(?:online\s+|ignore\s+)*table\s+(?:if\s+exists\s+)?", re.I)),
    (DdlKind.DROP, re.compile(r"^drop\s+(?:temporary\s+)?tables?\s+(?:if\s+exists\s+)?", re.I)),
    (DdlKind.RENAME, re.compile(r"^rename\s+tables?\s+", re.I)),
    (DdlKind.TRUNCATE, re.compile(r"^truncate\s+(?:table\s+)?", re.I)),
]  # fmt: skip
_LIST_KINDS = {DdlKind.DROP, DdlKind.RENAME}


def _strip_comments(query: str) -> str:
    text = query
    while (match := _COMMENT.match(text)) is not None:
        text = text[match.end() :]
    return text.lstrip()


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _table(qualified: str, default_schema: str) -> TableId:
    parts = re.findall(_NAME, qualified)
    if len(parts) == 2:
        return TableId(_unquote(parts[0]), _unquote(parts[1]))
    return TableId(default_schema, _unquote(parts[0]))


def _names(rest: str, many: bool) -> list[str]:
    names = []
    pattern = re.compile(rf"\s*({_QUALIFIED})\s*(?:,|\bto\b|$)?", re.I)
    position = 0
    while (match := pattern.match(rest, position)) is not None and match.group(1):
        if match.group(1).lower() in ("to", "wait", "nowait", "restrict", "cascade"):
            break
        names.append(match.group(1))
        position = match.end()
        if not many or match.end() == match.start():
            break
    return names


def parse_ddl(query: str, default_schema: str) -> Ddl | None:
    """The DDL statement's kind and tables, or None when ``query`` is not table DDL."""
    text = _strip_comments(query)
    for kind, head in _HEADS:
        match = head.match(text)
        if match is not None:
            names = _names(text[match.end() :], kind in _LIST_KINDS)
            tables = tuple(_table(n, default_schema) for n in names)
            return Ddl(kind, tables, query) if tables else None
    return None
