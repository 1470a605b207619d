"""Parsing PostgreSQL's array text form: ``{1,2,NULL}``, ``{"a,b","say \\"hi\\"",NULL}``.

Quirks: elements are quoted only when needed (empty, containing the delimiter, braces, quotes,
backslashes, whitespace, or spelling ``NULL``); inside quotes a backslash escapes the next
character. An unquoted ``NULL`` is SQL NULL, a quoted ``"NULL"`` is the text. Arrays whose lower
bound is not 1 print a ``[0:2]=`` prefix, which is dropped (Avro arrays have no bounds).
Multi-dimensional arrays are rejected: an Avro ``array`` of scalars cannot hold them.
The delimiter is ``,`` for every built-in type except ``box`` (``;``): ``pg_type.typdelim``.
"""

from __future__ import annotations

import re

from strangler.connectors.postgres.errors import ValueParseError

_BOUNDS = re.compile(r"\A(\[-?\d+:-?\d+\])+=")


def parse_array(text: str, delimiter: str = ",") -> list[str | None]:
    """The elements of a one-dimensional array literal, as text (None for NULL)."""
    body = _BOUNDS.sub("", text, count=1)
    if len(body) < 2 or body[0] != "{" or body[-1] != "}":
        raise ValueParseError("array", text, "expected {…}")
    inner = body[1:-1]
    if not inner:
        return []
    if inner.startswith("{"):
        raise ValueParseError("array", text, "multi-dimensional arrays are not supported")
    return _elements(inner, delimiter, text)


def _elements(inner: str, delimiter: str, text: str) -> list[str | None]:
    out: list[str | None] = []
    i = 0
    while True:
        value, i = (
            _quoted(inner, i, text) if inner[i : i + 1] == '"' else _bare(inner, i, delimiter)
        )
        out.append(value)
        if i == len(inner):
            return out
        if inner[i] != delimiter:
            raise ValueParseError("array", text, f"expected {delimiter!r} at {i + 1}")
        i += 1


def _bare(inner: str, start: int, delimiter: str) -> tuple[str | None, int]:
    end = inner.find(delimiter, start)
    end = len(inner) if end < 0 else end
    token = inner[start:end]
    return (None if token.upper() == "NULL" else token), end


def _quoted(inner: str, start: int, text: str) -> tuple[str, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(inner):
        char = inner[i]
        if char == '"':
            return "".join(chars), i + 1
        if char == "\\":
            i += 1
        chars.append(inner[i : i + 1])
        i += 1
    raise ValueParseError("array", text, "unterminated quoted element")
