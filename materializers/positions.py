"""Source positions as byte strings that sort like the positions themselves.

The materializer compares positions inside the view database (the per-key guard runs as SQL),
so each position is turned into a *sort key*: bytes whose byte-wise order (SQLite BLOB,
PostgreSQL bytea) is the source's order. What a record carries (Kafka headers):

- ``position``: the source position as text (required on every record);
- ``position_kind`` (optional): how to read it, one of ``PositionKind``; without it the topic's
  configured kind applies (default ``pg_lsn``).

Kinds: ``pg_lsn`` (``16/B374D848``), ``integer`` (a non-negative decimal number), and
``mysql_file_pos`` (``mysql-bin.000042:1234``: file sequence, then offset).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from strangler.materializers.errors import MaterializerError


class PositionKind(StrEnum):
    """How a ``position`` header is read."""

    PG_LSN = "pg_lsn"
    INTEGER = "integer"
    MYSQL_FILE_POS = "mysql_file_pos"


class PositionError(MaterializerError):
    """A position header that cannot be read as its kind."""


def _u64(value: int) -> bytes:
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{value} is outside 0..2**64-1")
    return value.to_bytes(8, "big")


def _pg_lsn(text: str) -> bytes:
    high, sep, low = text.partition("/")
    if not sep or not 1 <= len(high) <= 8 or not 1 <= len(low) <= 8:
        raise ValueError("expected two hex numbers like '16/B374D848'")
    return _u64((int(high, 16) << 32) | int(low, 16))


def _integer(text: str) -> bytes:
    return _u64(int(text))


def _mysql_file_pos(text: str) -> bytes:
    name, sep, pos = text.rpartition(":")
    _, dot, sequence = name.rpartition(".")
    if not sep or not dot:
        raise ValueError("expected 'binlog-file.NNNNNN:offset'")
    return _u64(int(sequence)) + _u64(int(pos))


_READERS: dict[PositionKind, Callable[[str], bytes]] = {
    PositionKind.PG_LSN: _pg_lsn,
    PositionKind.INTEGER: _integer,
    PositionKind.MYSQL_FILE_POS: _mysql_file_pos,
}


def sort_key(kind: PositionKind, text: str) -> bytes:
    """The sort key of ``text`` read as ``kind``; raises ``PositionError`` if unreadable."""
    try:
        return _READERS[kind](text.strip())
    except ValueError as exc:
        raise PositionError(f"position {text!r} is not a {kind.value} position: {exc}") from None
