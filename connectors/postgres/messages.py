"""The pgoutput logical replication messages, as frozen dataclasses.

Layouts are those of PostgreSQL's "Logical Replication Message Formats" (protocol versions 1
and 2). ``xid`` on a message is the transaction id PostgreSQL sends only *inside a streamed
transaction* (protocol 2, between Stream Start and Stream Stop); elsewhere it is ``None``.
Timestamps are kept as PostgreSQL sends them: microseconds since 2000-01-01 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final, Literal, NewType

from strangler.connectors.postgres.lsn import Lsn
from strangler.core.schema import NotData

PgTimestamp = NewType("PgTimestamp", int)
"""Microseconds since 2000-01-01 00:00:00 UTC, PostgreSQL's internal timestamp epoch."""

Oid = NewType("Oid", int)


class Unchanged(NotData, Enum):
    """The value of a TOASTed column an UPDATE did not touch: PostgreSQL did not send it.

    pgoutput marks such a column with kind ``'u'`` and no data. It is *not* a value: whoever
    builds a row must take the column from elsewhere (a previous image) or leave it out;
    ``strangler.core.schema`` refuses to encode it (it is a ``NotData``).
    """

    TOAST = "u"

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = Unchanged.TOAST

ColumnValue = str | bytes | None | Literal[Unchanged.TOAST]
"""One column in TupleData: text form (``'t'``), binary form (``'b'``), NULL (``'n'``) or
``UNCHANGED_TOAST`` (``'u'``)."""


@dataclass(frozen=True, slots=True)
class TupleData:
    """A row image: one entry per column of the relation, in the Relation message's order."""

    values: tuple[ColumnValue, ...]


class ReplicaIdentity(StrEnum):
    """``pg_class.relreplident``: which old values UPDATE and DELETE carry."""

    DEFAULT = "d"  # primary key columns
    NOTHING = "n"
    FULL = "f"  # every column
    INDEX = "i"  # the columns of the chosen unique index


class OldKind(StrEnum):
    """What an old tuple in Update/Delete holds."""

    KEY = "K"  # only the replica identity columns (others are NULL)
    FULL = "O"  # the whole old row (REPLICA IDENTITY FULL)


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: Lsn
    """LSN of the commit record; the Commit message's ``commit_lsn`` is equal."""
    commit_time: PgTimestamp
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: Lsn
    end_lsn: Lsn
    """LSN just past the commit record: the position to confirm once this transaction is safe."""
    commit_time: PgTimestamp


@dataclass(frozen=True, slots=True)
class Origin:
    """Sent after Begin when the transaction was replayed from another node (replication origin)."""

    commit_lsn: Lsn
    name: str


@dataclass(frozen=True, slots=True)
class RelationColumn:
    is_key: bool
    """Part of the replica identity (flag bit 1)."""
    name: str
    type_oid: Oid
    type_modifier: int
    """``atttypmod``: -1 when none; for numeric ``((precision << 16) | scale) + 4``."""


@dataclass(frozen=True, slots=True)
class Relation:
    xid: int | None
    oid: Oid
    namespace: str
    """Schema name. pgoutput sends ``''`` for ``pg_catalog``."""
    name: str
    replica_identity: ReplicaIdentity
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True, slots=True)
class DataType:
    """pgoutput's Type message: names a non-builtin type before a Relation that uses it."""

    xid: int | None
    oid: Oid
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    xid: int | None
    relation_oid: Oid
    new: TupleData


@dataclass(frozen=True, slots=True)
class Update:
    xid: int | None
    relation_oid: Oid
    old_kind: OldKind | None
    """None when the key did not change and replica identity is not FULL."""
    old: TupleData | None
    new: TupleData


@dataclass(frozen=True, slots=True)
class Delete:
    xid: int | None
    relation_oid: Oid
    old_kind: OldKind
    old: TupleData


@dataclass(frozen=True, slots=True)
class Truncate:
    xid: int | None
    cascade: bool
    restart_identity: bool
    relation_oids: tuple[Oid, ...]


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    """``pg_logical_emit_message``: sent only with the ``messages`` option."""

    xid: int | None
    transactional: bool
    lsn: Lsn
    prefix: str
    content: bytes


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Protocol 2: a block of changes of a still-running large transaction begins."""

    xid: int
    first_segment: bool


@dataclass(frozen=True, slots=True)
class StreamStop:
    """Protocol 2: the current block of a streamed transaction ends."""


@dataclass(frozen=True, slots=True)
class StreamCommit:
    xid: int
    flags: int
    commit_lsn: Lsn
    end_lsn: Lsn
    commit_time: PgTimestamp


@dataclass(frozen=True, slots=True)
class StreamAbort:
    """Protocol 2: a streamed (sub)transaction aborted; ``subxid == xid`` for the top level."""

    xid: int
    subxid: int


PgOutputMessage = (
    Begin
    | Commit
    | Origin
    | Relation
    | DataType
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
    | StreamStart
    | StreamStop
    | StreamCommit
    | StreamAbort
)
