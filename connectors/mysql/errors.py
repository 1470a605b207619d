"""Errors the MySQL/MariaDB connector raises on purpose."""

from __future__ import annotations

from strangler.core.errors import StranglerError


class MysqlError(StranglerError):
    """Root of the MySQL/MariaDB connector's errors."""


class PositionError(MysqlError):
    """A stored binlog position (GTID set or file:pos) cannot be parsed or compared."""


class ValueConversionError(MysqlError):
    """A column value cannot be represented in the column's Avro type.

    Fatal: the same row converts the same way every time; the message names the column."""

    def __init__(self, column: str, type_name: str, value: object, problem: str) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(
            f"column {column!r} ({type_name}): cannot publish {shown}: {problem}",
            fix="change the column's type or the value at the source; see "
            "strangler.connectors.mysql.types for the documented mapping",
        )
        self.column = column
        self.type_name = type_name


class UnknownTable(MysqlError):
    """A table named in the configuration (or a binlog event) does not exist."""


class StreamError(MysqlError):
    """The binlog stream cannot be read from the requested position.

    ``retriable`` is False when the position itself is the problem (purged binlog: a new
    snapshot is needed); True for lost connections."""

    def __init__(self, message: str, *, fix: str | None = None, retriable: bool = False) -> None:
        super().__init__(message, fix=fix)
        self.retriable = retriable
