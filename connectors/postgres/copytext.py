"""Parsing ``COPY … TO STDOUT`` text format: one row a line, columns split by tab.

The server writes each value with its type's output function (the same text pgoutput sends),
then escapes it: ``\\N`` is NULL, and a backslash introduces ``\\\\``, ``\\t``, ``\\n``, ``\\r``,
``\\b``, ``\\f``, ``\\v``, or an octal (``\\123``) or hex (``\\x7F``) byte. Raw tabs and newlines
never occur inside a value, so splitting first and unescaping after is exact. Bytes are decoded
as UTF-8 after unescaping (escapes can spell bytes of a multi-byte character).
"""

from __future__ import annotations

import re

from strangler.connectors.postgres.errors import DecodeError

_SIMPLE = {"b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v", "\\": b"\\"}
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.DOTALL)


def parse_copy_rows(data: bytes) -> list[tuple[str | None, ...]]:
    """Every row in ``data`` (whole lines, each ending in ``\\n``)."""
    if data and not data.endswith(b"\n"):
        raise DecodeError("COPY", len(data), "data does not end at a row boundary")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [parse_copy_line(line) for line in data.split(b"\n")[:-1]]  # explains it
    return [
        tuple(line.split("\t")) if "\\" not in line else _escaped_line(line)
        for line in text.split("\n")[:-1]
    ]


def _escaped_line(line: str) -> tuple[str | None, ...]:
    """A line with NULLs or escapes. Decoding the whole data first is exact: an escape is
    ASCII, and only unescaped bytes (an octal or hex escape) could be part of a character."""
    return tuple(
        None if field == "\\N" else _unescape(field.encode()) if "\\" in field else field
        for field in line.split("\t")
    )


def parse_copy_line(line: bytes) -> tuple[str | None, ...]:
    return tuple(None if field == b"\\N" else _unescape(field) for field in line.split(b"\t"))


def _unescape(field: bytes) -> str:
    raw = _ESCAPE.sub(_replace, field) if b"\\" in field else field
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("COPY", exc.start, f"value is not valid UTF-8: {exc.reason}") from exc


def _replace(match: re.Match[bytes]) -> bytes:
    code = match.group(1).decode("ascii", errors="replace")
    if code in _SIMPLE:
        return _SIMPLE[code]
    if code[0] == "x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if code.isdigit():
        return bytes([int(code, 8) & 0xFF])
    return match.group(1)  # PostgreSQL: any other escaped character stands for itself
