"""Errors the PostgreSQL connector raises on purpose."""

from __future__ import annotations

from strangler.core.errors import StranglerError


class PostgresError(StranglerError):
    """Root of the PostgreSQL connector's errors."""


class DecodeError(PostgresError):
    """A replication or pgoutput message could not be decoded.

    Fatal: the same bytes decode the same way every time. ``message_type`` is the message's
    type byte as a character (``'I'`` for Insert, ``'w'`` for XLogData); ``offset`` is the byte
    offset inside that message where decoding failed.
    """

    def __init__(self, message_type: str, offset: int, problem: str) -> None:
        super().__init__(
            f"cannot decode {message_type!r} message at byte {offset}: {problem}",
            fix="this is a bug or an unsupported server version; report it with the server "
            "version and the pgoutput proto_version in use",
        )
        self.message_type = message_type
        self.offset = offset


class LsnError(PostgresError):
    """A text LSN is not of the form ``X/X`` with hexadecimal halves."""


class UnknownRelation(PostgresError):
    """A row change names a relation oid for which no Relation message was seen.

    pgoutput sends a Relation message before the first change of a relation in every session,
    so this means messages were lost or the stream was started in the middle of a transaction.
    """

    def __init__(self, oid: int) -> None:
        super().__init__(
            f"row change for relation oid {oid} arrived before its Relation message",
            fix="restart streaming from the slot's confirmed position",
        )
        self.oid = oid


class ValueParseError(PostgresError):
    """A column's text value could not be converted for the column's type."""

    def __init__(self, type_name: str, text: str, problem: str, where: str = "") -> None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        place = f" in {where}" if where else ""
        super().__init__(f"cannot convert {type_name} value {shown!r}{place}: {problem}")
        self.type_name = type_name
        self.text = text
        self.problem = problem
        self.where = where


class ReplicationError(PostgresError):
    """The replication stream broke: the server ended it or the connection was lost."""

    retriable = True


class SlotError(PostgresError):
    """A replication slot could not be created, found or dropped."""
