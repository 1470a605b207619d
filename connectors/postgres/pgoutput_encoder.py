"""The inverse of ``pgoutput``: messages back to pgoutput bytes.

PostgreSQL is the only real producer of these bytes; this encoder exists so tests can build
streams (property-based round trips, transaction assembly scenarios) without a server. It
follows the same layouts as ``pgoutput``; ``in_stream`` adds the xid that streamed messages carry.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    ColumnValue,
    Commit,
    DataType,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    PgOutputMessage,
    Relation,
    RelationColumn,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)


def encode_message(message: PgOutputMessage) -> bytes:
    """Encode ``message``; xid fields that are not None are written (as inside a stream)."""
    encoder: Callable[[Any], bytes] = _ENCODERS[type(message)]
    return encoder(message)


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _xid(xid: int | None) -> bytes:
    return b"" if xid is None else struct.pack("!I", xid)


def _begin(m: Begin) -> bytes:
    return b"B" + struct.pack("!QqI", m.final_lsn.value, m.commit_time, m.xid)


def _commit(m: Commit) -> bytes:
    return b"C" + struct.pack("!BQQq", m.flags, m.commit_lsn.value, m.end_lsn.value, m.commit_time)


def _origin(m: Origin) -> bytes:
    return b"O" + struct.pack("!Q", m.commit_lsn.value) + _cstr(m.name)


def _relation(m: Relation) -> bytes:
    head = b"R" + _xid(m.xid) + struct.pack("!I", m.oid) + _cstr(m.namespace) + _cstr(m.name)
    cols = b"".join(_relation_column(c) for c in m.columns)
    return head + m.replica_identity.value.encode() + struct.pack("!h", len(m.columns)) + cols


def _relation_column(c: RelationColumn) -> bytes:
    typ = struct.pack("!Ii", c.type_oid, c.type_modifier)
    return struct.pack("!B", int(c.is_key)) + _cstr(c.name) + typ


def _data_type(m: DataType) -> bytes:
    return b"Y" + _xid(m.xid) + struct.pack("!I", m.oid) + _cstr(m.namespace) + _cstr(m.name)


def encode_tuple(data: TupleData) -> bytes:
    return struct.pack("!h", len(data.values)) + b"".join(_value(v) for v in data.values)


def _value(value: ColumnValue) -> bytes:
    if value is None:
        return b"n"
    if value is UNCHANGED_TOAST:
        return b"u"
    if isinstance(value, str):
        raw = value.encode()
        return b"t" + struct.pack("!i", len(raw)) + raw
    return b"b" + struct.pack("!i", len(value)) + value


def _insert(m: Insert) -> bytes:
    return b"I" + _xid(m.xid) + struct.pack("!I", m.relation_oid) + b"N" + encode_tuple(m.new)


def _update(m: Update) -> bytes:
    old = b""
    if m.old_kind is not None and m.old is not None:
        old = m.old_kind.value.encode() + encode_tuple(m.old)
    head = b"U" + _xid(m.xid) + struct.pack("!I", m.relation_oid)
    return head + old + b"N" + encode_tuple(m.new)


def _delete(m: Delete) -> bytes:
    head = b"D" + _xid(m.xid) + struct.pack("!I", m.relation_oid)
    return head + m.old_kind.value.encode() + encode_tuple(m.old)


def _truncate(m: Truncate) -> bytes:
    options = int(m.cascade) | (int(m.restart_identity) << 1)
    oids = b"".join(struct.pack("!I", oid) for oid in m.relation_oids)
    return b"T" + _xid(m.xid) + struct.pack("!iB", len(m.relation_oids), options) + oids


def _logical_message(m: LogicalMessage) -> bytes:
    head = b"M" + _xid(m.xid) + struct.pack("!BQ", int(m.transactional), m.lsn.value)
    return head + _cstr(m.prefix) + struct.pack("!i", len(m.content)) + m.content


def _stream_start(m: StreamStart) -> bytes:
    return b"S" + struct.pack("!IB", m.xid, int(m.first_segment))


def _stream_stop(m: StreamStop) -> bytes:
    return b"E"


def _stream_commit(m: StreamCommit) -> bytes:
    body = struct.pack("!IBQQq", m.xid, m.flags, m.commit_lsn.value, m.end_lsn.value, m.commit_time)
    return b"c" + body


def _stream_abort(m: StreamAbort) -> bytes:
    return b"A" + struct.pack("!II", m.xid, m.subxid)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    Begin: _begin,
    Commit: _commit,
    Origin: _origin,
    Relation: _relation,
    DataType: _data_type,
    Insert: _insert,
    Update: _update,
    Delete: _delete,
    Truncate: _truncate,
    LogicalMessage: _logical_message,
    StreamStart: _stream_start,
    StreamStop: _stream_stop,
    StreamCommit: _stream_commit,
    StreamAbort: _stream_abort,
}
