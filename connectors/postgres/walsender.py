"""Talking to a walsender: the CopyBoth framing of streaming replication.

Inside ``START_REPLICATION`` every CopyData message starts with one type byte:

* ``'w'`` XLogData (server → client): Int64 start LSN, Int64 server WAL end, Int64 send time,
  then the payload (one pgoutput message for logical replication);
* ``'k'`` primary keepalive (server → client): Int64 WAL end, Int64 send time, Byte1 reply
  requested. If reply is requested and we stay silent, the server drops us after
  ``wal_sender_timeout`` (default 60 s);
* ``'r'`` standby status update (client → server): Int64 written, flushed, applied LSNs, Int64
  client time, Byte1 reply-now. The flushed LSN becomes the slot's ``confirmed_flush_lsn``: WAL
  before it may be recycled, so it must only ever name data that is safe downstream.

The framing functions are pure; ``ReplicationStream`` is the thin I/O layer over psycopg's
low-level connection (``pgconn``), which psycopg 3.3 exposes in COPY_BOTH mode.
"""

from __future__ import annotations

import select
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from strangler.connectors.postgres.errors import ReplicationError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import PgTimestamp
from strangler.connectors.postgres.pgtime import pg_now
from strangler.connectors.postgres.wire import WireReader

_STATUS = struct.Struct("!cQQQqB")


@dataclass(frozen=True, slots=True)
class XLogData:
    start: Lsn
    """WAL position of the payload. For pgoutput's Commit it equals the commit's end LSN."""
    wal_end: Lsn
    send_time: PgTimestamp
    payload: bytes


@dataclass(frozen=True, slots=True)
class Keepalive:
    wal_end: Lsn
    send_time: PgTimestamp
    reply_requested: bool


ServerMessage = XLogData | Keepalive


_XLOG_HEADER = struct.Struct("!QQq")
_XLOG = ord("w")
_PAYLOAD_AT = 1 + _XLOG_HEADER.size


def decode_server_message(data: bytes) -> ServerMessage:
    """Decode one CopyData payload sent by the walsender."""
    if data[:1] == b"w" and len(data) >= 1 + _XLOG_HEADER.size:  # the hot path, in one unpack
        start, wal_end, sent = _XLOG_HEADER.unpack_from(data, 1)
        return XLogData(Lsn(start), Lsn(wal_end), PgTimestamp(sent), data[1 + _XLOG_HEADER.size :])
    kind = chr(data[0]) if data else "?"
    r = WireReader(data, kind, start=1)
    if kind == "w":
        start, wal_end = Lsn(r.u64("start LSN")), Lsn(r.u64("WAL end"))
        return XLogData(start, wal_end, PgTimestamp(r.i64("send time")), r.rest())
    if kind == "k":
        wal_end, sent = Lsn(r.u64("WAL end")), PgTimestamp(r.i64("send time"))
        keepalive = Keepalive(wal_end, sent, r.u8("reply requested") == 1)
        r.expect_end()
        return keepalive
    raise r.fail(f"unknown replication message type {kind!r}", offset=0)


def encode_standby_status(
    flushed: Lsn, now: PgTimestamp, *, written: Lsn | None = None, reply: bool = False
) -> bytes:
    """A standby status update. ``written`` and ``applied`` default to ``flushed``: for a logical
    client they mean the same thing, the end LSN of the last transaction made durable."""
    wrote = flushed if written is None else written
    return _STATUS.pack(b"r", wrote.value, flushed.value, flushed.value, now, int(reply))


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a single-quoted SQL literal (standard_conforming_strings: quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def start_replication_command(
    slot: str, start: Lsn, publications: Sequence[str], options: dict[str, str]
) -> str:
    """The ``START_REPLICATION ... LOGICAL`` command for pgoutput.

    pgoutput splits ``publication_names`` like a list of SQL identifiers, so each name is
    double-quoted inside the single-quoted option value (names with commas or capitals work).
    """
    names = ",".join(quote_identifier(p) for p in publications)
    opts = {**options, "publication_names": names}
    rendered = ", ".join(f"{quote_identifier(k)} {quote_literal(v)}" for k, v in opts.items())
    return f"START_REPLICATION SLOT {quote_identifier(slot)} LOGICAL {start} ({rendered})"


class ReplicationStream:
    """An active ``START_REPLICATION`` on a psycopg connection opened with
    ``replication="database"``, ``autocommit=True`` and ``prepare_threshold=None``.

    Keepalives that request a reply are answered with the last *confirmed* position (never
    with what was merely received), so the stream stays alive without acknowledging early.
    """

    def __init__(self, conn: psycopg.Connection[Any], confirmed: Lsn) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        self.confirmed = confirmed

    @classmethod
    def start(
        cls,
        conn: psycopg.Connection[Any],
        slot: str,
        start: Lsn,
        publications: Sequence[str],
        options: dict[str, str] | None = None,
    ) -> ReplicationStream:
        """Issue START_REPLICATION. ``options`` are extra pgoutput options (``proto_version``
        defaults to ``'1'``). Streaming begins at max(``start``, the slot's confirmed LSN)."""
        opts = {"proto_version": "1", **(options or {})}
        conn.execute(start_replication_command(slot, start, publications, opts))
        return cls(conn, start)

    def read(self, timeout: float) -> ServerMessage | None:
        """The next server message, or None if none arrived within ``timeout`` seconds."""
        data = self._read_copy_data(timeout)
        if data is None:
            return None
        return self._answer(decode_server_message(data))

    def read_payload(self, timeout: float) -> bytes | Keepalive | None:
        """``read``, but of an XLogData only its payload, copied once out of libpq's buffer:
        the hot path of streaming, where the payload is all that is used (a pgoutput Commit
        carries its own LSNs)."""
        nbytes, view = self._get_copy_data()
        if nbytes == 0:
            data = self._read_copy_data(timeout)
            if data is None:
                return None
            view, nbytes = memoryview(data), len(data)
        if nbytes > _PAYLOAD_AT and view[0] == _XLOG:
            return bytes(view[_PAYLOAD_AT:])
        if nbytes == -1:
            raise ReplicationError(f"the server ended replication: {self._final_error()}")
        message = self._answer(decode_server_message(bytes(view)))
        return message.payload if isinstance(message, XLogData) else message

    def _answer(self, message: ServerMessage) -> ServerMessage:
        """Keepalives that request a reply get one (the last confirmed position)."""
        if isinstance(message, Keepalive) and message.reply_requested:
            self.send_status()
        return message

    def confirm(self, flushed: Lsn) -> None:
        """Tell the server everything before ``flushed`` is safe; it may then recycle that WAL.
        A position older than one already confirmed is ignored: confirmation never goes back."""
        self.confirmed = max(self.confirmed, flushed)
        self.send_status()

    def send_status(self, *, reply: bool = False) -> None:
        self._pgconn.put_copy_data(encode_standby_status(self.confirmed, pg_now(), reply=reply))
        self._flush()

    def stop(self) -> None:
        """End COPY cleanly (CopyDone), drain what the server still sends, collect the result."""
        self._pgconn.put_copy_end()
        self._flush()
        while self._pgconn.get_copy_data(0)[0] != -1:
            pass
        while self._pgconn.get_result() is not None:
            pass

    def _read_copy_data(self, timeout: float) -> bytes | None:
        nbytes, data = self._get_copy_data()
        if nbytes == 0:
            if not select.select([self._pgconn.socket], [], [], timeout)[0]:
                return None
            self._consume_input()
            nbytes, data = self._get_copy_data()
        if nbytes == -1:
            raise ReplicationError(f"the server ended replication: {self._final_error()}")
        return bytes(data) if nbytes > 0 else None

    def _consume_input(self) -> None:
        try:
            self._pgconn.consume_input()
        except psycopg.OperationalError as exc:
            raise ReplicationError(f"replication connection lost: {exc}") from exc

    def _get_copy_data(self) -> tuple[int, memoryview]:
        try:
            return self._pgconn.get_copy_data(1)
        except psycopg.OperationalError as exc:
            raise ReplicationError(f"replication connection lost: {exc}") from exc

    def _flush(self) -> None:
        # psycopg runs libpq in non-blocking mode: flush() returns 1 while bytes are still queued
        try:
            while self._pgconn.flush() == 1:
                select.select([], [self._pgconn.socket], [], 1.0)
        except psycopg.OperationalError as exc:
            raise ReplicationError(f"replication connection lost: {exc}") from exc

    def _final_error(self) -> str:
        result = self._pgconn.get_result()
        if result is None or result.error_message is None:
            return "no error given"
        return result.error_message.decode(errors="replace").strip() or "no error given"
