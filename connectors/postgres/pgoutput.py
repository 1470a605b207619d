"""Pure decoder for pgoutput, PostgreSQL's logical replication output plugin (protocol 1 and 2).

Bytes in, frozen messages out; no I/O. Each message is decoded by one small function chosen
from ``_DECODERS`` by its type byte, and must consume exactly its bytes: anything left over
means the layout was misread and raises ``DecodeError``.

Protocol quirk: inside a streamed transaction (protocol 2, between Stream Start and Stream Stop)
Relation, Type, Insert, Update, Delete, Truncate and Message carry an extra Int32 xid right
after the type byte. Nothing in those messages says so; the reader has to know whether it is
inside a stream block. ``decode_message`` takes that as an argument; ``PgOutputDecoder`` tracks
it from the Stream Start/Stop messages it sees.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    ColumnValue,
    Commit,
    DataType,
    Delete,
    Insert,
    LogicalMessage,
    Oid,
    OldKind,
    Origin,
    PgOutputMessage,
    PgTimestamp,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)
from strangler.connectors.postgres.wire import WireReader

_TRUNCATE_CASCADE = 1
_TRUNCATE_RESTART_IDENTITY = 2
_COLUMN_FLAG_KEY = 1


def decode_message(data: bytes, *, in_stream: bool = False) -> PgOutputMessage:
    """Decode one pgoutput message (the payload of one XLogData, or one ``data`` row of
    ``pg_logical_slot_peek_binary_changes``). ``in_stream``: inside a Stream Start/Stop block."""
    if not data:
        raise WireReader(data, "?").fail("empty message")
    kind = chr(data[0])
    decoder = _DECODERS.get(kind)
    reader = WireReader(data, kind, start=1)
    if decoder is None:
        raise reader.fail(f"unknown pgoutput message type {kind!r}", offset=0)
    message = decoder(reader, in_stream)
    reader.expect_end()
    return message


class PgOutputDecoder:
    """Decodes a session's messages in order, knowing when it is inside a streamed block."""

    def __init__(self) -> None:
        self.in_stream = False

    def decode(self, data: bytes) -> PgOutputMessage:
        message = decode_message(data, in_stream=self.in_stream)
        if isinstance(message, StreamStart):
            self.in_stream = True
        elif isinstance(message, StreamStop):
            self.in_stream = False
        return message


def _xid(r: WireReader, in_stream: bool) -> int | None:
    return r.u32("xid") if in_stream else None


def _lsn(r: WireReader, what: str) -> Lsn:
    return Lsn(r.u64(what))


def _timestamp(r: WireReader, what: str) -> PgTimestamp:
    return PgTimestamp(r.i64(what))


def _begin(r: WireReader, in_stream: bool) -> Begin:
    return Begin(_lsn(r, "final LSN"), _timestamp(r, "commit time"), r.u32("xid"))


def _commit(r: WireReader, in_stream: bool) -> Commit:
    flags = r.u8("flags")
    return Commit(flags, _lsn(r, "commit LSN"), _lsn(r, "end LSN"), _timestamp(r, "commit time"))


def _origin(r: WireReader, in_stream: bool) -> Origin:
    return Origin(_lsn(r, "origin commit LSN"), r.cstring("origin name"))


def _relation(r: WireReader, in_stream: bool) -> Relation:
    xid = _xid(r, in_stream)
    oid = Oid(r.u32("relation oid"))
    namespace = r.cstring("namespace")
    name = r.cstring("relation name")
    identity = _replica_identity(r)
    ncols = r.i16("column count")
    columns = tuple(_relation_column(r) for _ in range(ncols))
    return Relation(xid, oid, namespace, name, identity, columns)


def _replica_identity(r: WireReader) -> ReplicaIdentity:
    at = r.offset
    code = r.char("replica identity")
    try:
        return ReplicaIdentity(code)
    except ValueError:
        raise r.fail(f"unknown replica identity {code!r}", offset=at) from None


def _relation_column(r: WireReader) -> RelationColumn:
    flags = r.u8("column flags")
    name = r.cstring("column name")
    type_oid = Oid(r.u32("column type oid"))
    return RelationColumn(bool(flags & _COLUMN_FLAG_KEY), name, type_oid, r.i32("type modifier"))


def _data_type(r: WireReader, in_stream: bool) -> DataType:
    xid = _xid(r, in_stream)
    oid = Oid(r.u32("type oid"))
    return DataType(xid, oid, r.cstring("type namespace"), r.cstring("type name"))


def _insert(r: WireReader, in_stream: bool) -> Insert:
    xid = _xid(r, in_stream)
    oid = Oid(r.u32("relation oid"))
    _expect(r, "N", "new tuple marker")
    return Insert(xid, oid, _tuple(r))


def _update(r: WireReader, in_stream: bool) -> Update:
    xid = _xid(r, in_stream)
    oid = Oid(r.u32("relation oid"))
    at = r.offset
    marker = r.char("tuple marker")
    if marker == "N":
        return Update(xid, oid, None, None, _tuple(r))
    if marker not in ("K", "O"):
        raise r.fail(f"expected 'K', 'O' or 'N', got {marker!r}", offset=at)
    old = _tuple(r)
    _expect(r, "N", "new tuple marker")
    return Update(xid, oid, OldKind(marker), old, _tuple(r))


def _delete(r: WireReader, in_stream: bool) -> Delete:
    xid = _xid(r, in_stream)
    oid = Oid(r.u32("relation oid"))
    at = r.offset
    marker = r.char("old tuple marker")
    if marker not in ("K", "O"):
        raise r.fail(f"expected 'K' or 'O', got {marker!r}", offset=at)
    return Delete(xid, oid, OldKind(marker), _tuple(r))


def _truncate(r: WireReader, in_stream: bool) -> Truncate:
    xid = _xid(r, in_stream)
    count = r.i32("relation count")
    if count < 0:
        raise r.fail(f"negative relation count {count}", offset=r.offset - 4)
    options = r.u8("options")
    oids = tuple(Oid(r.u32("relation oid")) for _ in range(count))
    cascade = bool(options & _TRUNCATE_CASCADE)
    return Truncate(xid, cascade, bool(options & _TRUNCATE_RESTART_IDENTITY), oids)


def _logical_message(r: WireReader, in_stream: bool) -> LogicalMessage:
    xid = _xid(r, in_stream)
    transactional = bool(r.u8("flags") & 1)
    lsn = _lsn(r, "message LSN")
    prefix = r.cstring("prefix")
    length = r.i32("content length")
    return LogicalMessage(xid, transactional, lsn, prefix, r.counted(length, "content"))


def _stream_start(r: WireReader, in_stream: bool) -> StreamStart:
    return StreamStart(r.u32("xid"), r.u8("first segment") == 1)


def _stream_stop(r: WireReader, in_stream: bool) -> StreamStop:
    return StreamStop()


def _stream_commit(r: WireReader, in_stream: bool) -> StreamCommit:
    xid = r.u32("xid")
    flags = r.u8("flags")
    commit_lsn = _lsn(r, "commit LSN")
    return StreamCommit(xid, flags, commit_lsn, _lsn(r, "end LSN"), _timestamp(r, "commit time"))


def _stream_abort(r: WireReader, in_stream: bool) -> StreamAbort:
    # Protocol 4 with streaming=parallel appends abort LSN and time; PostgreSQL 15 cannot send
    # that, and expect_end() rejects it rather than silently ignoring bytes we do not model.
    return StreamAbort(r.u32("xid"), r.u32("subtransaction xid"))


def _expect(r: WireReader, marker: str, what: str) -> None:
    at = r.offset
    got = r.char(what)
    if got != marker:
        raise r.fail(f"expected {what} {marker!r}, got {got!r}", offset=at)


def _tuple(r: WireReader) -> TupleData:
    ncols = r.i16("tuple column count")
    if ncols < 0:
        raise r.fail(f"negative column count {ncols}", offset=r.offset - 2)
    fast = _fast_tuple(r, ncols)
    if fast is not None:
        return fast
    return TupleData(tuple(_column_value(r) for _ in range(ncols)))


_I32_FROM = struct.Struct("!i").unpack_from


def _fast_tuple(r: WireReader, ncols: int) -> TupleData | None:
    """The hot path of streaming: the same layout as ``_column_value``, read in one tight loop.
    On anything unusual (truncation, an unknown kind, bad UTF-8) it gives up without consuming
    anything, and the careful path decodes again and reports the error with its offset."""
    data, pos, end = r.data, r.offset, len(r.data)
    values: list[ColumnValue] = []
    append = values.append
    try:
        for _ in range(ncols):
            kind = data[pos]
            pos += 1
            if kind == 0x74 or kind == 0x62:  # 't' text, 'b' binary
                length = _I32_FROM(data, pos)[0]
                pos += 4
                if length < 0 or pos + length > end:
                    return None
                raw = data[pos : pos + length]
                pos += length
                append(raw.decode("utf-8") if kind == 0x74 else raw)
            elif kind == 0x6E:  # 'n' NULL
                append(None)
            elif kind == 0x75:  # 'u' unchanged TOAST
                append(UNCHANGED_TOAST)
            else:
                return None
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    r.seek(pos)
    return TupleData(tuple(values))


def _column_value(r: WireReader) -> ColumnValue:
    at = r.offset
    kind = r.char("column kind")
    if kind == "n":
        return None
    if kind == "u":
        return UNCHANGED_TOAST
    if kind not in ("t", "b"):
        raise r.fail(f"unknown column kind {kind!r}", offset=at)
    length = r.i32("column length")
    if length < 0:
        raise r.fail(f"negative column length {length}", offset=r.offset - 4)
    start = r.offset
    raw = r.counted(length, "column value")
    return r.utf8(raw, "text column value", start) if kind == "t" else raw


_Decoder = Callable[[WireReader, bool], PgOutputMessage]

_DECODERS: dict[str, _Decoder] = {
    "B": _begin,
    "C": _commit,
    "O": _origin,
    "R": _relation,
    "Y": _data_type,
    "I": _insert,
    "U": _update,
    "D": _delete,
    "T": _truncate,
    "M": _logical_message,
    "S": _stream_start,
    "E": _stream_stop,
    "c": _stream_commit,
    "A": _stream_abort,
}
