"""Reading PostgreSQL's wire primitives: big-endian integers, NUL-terminated strings, counted bytes.

One ``WireReader`` reads one message. Every read checks the remaining length first, so a
truncated message raises ``DecodeError`` naming the message type and the offset, never a bare
``struct.error`` or ``IndexError``.
"""

from __future__ import annotations

import struct

from strangler.connectors.postgres.errors import DecodeError

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")
_U64 = struct.Struct("!Q")


class WireReader:
    """A cursor over one message's bytes. ``message_type`` is only used in error messages."""

    __slots__ = ("_data", "_pos", "message_type")

    def __init__(self, data: bytes, message_type: str, start: int = 0) -> None:
        self._data = data
        self._pos = start
        self.message_type = message_type

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def data(self) -> bytes:
        """The whole message (for fast paths that parse in place, then ``seek``)."""
        return self._data

    def seek(self, offset: int) -> None:
        """Continue at ``offset`` (after a fast path consumed the bytes before it)."""
        self._pos = offset

    def fail(self, problem: str, offset: int | None = None) -> DecodeError:
        """The error to raise for ``problem`` at ``offset`` (default: the current offset)."""
        return DecodeError(self.message_type, self._pos if offset is None else offset, problem)

    def _take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if n < 0 or end > len(self._data):
            left = len(self._data) - self._pos
            raise self.fail(f"truncated: {what} needs {n} bytes, {left} left")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self._take(1, what)[0]

    def char(self, what: str) -> str:
        """One byte read as an ASCII character (message kinds such as ``'N'``, ``'K'``)."""
        return chr(self.u8(what))

    def i16(self, what: str) -> int:
        return int(_I16.unpack(self._take(2, what))[0])

    def i32(self, what: str) -> int:
        return int(_I32.unpack(self._take(4, what))[0])

    def u32(self, what: str) -> int:
        """Unsigned 32-bit: oids and xids are unsigned in PostgreSQL."""
        return int(_U32.unpack(self._take(4, what))[0])

    def i64(self, what: str) -> int:
        return int(_I64.unpack(self._take(8, what))[0])

    def u64(self, what: str) -> int:
        """Unsigned 64-bit: LSNs are unsigned (``XLogRecPtr`` is ``uint64``)."""
        return int(_U64.unpack(self._take(8, what))[0])

    def counted(self, n: int, what: str) -> bytes:
        return self._take(n, what)

    def cstring(self, what: str) -> str:
        """A NUL-terminated UTF-8 string (names are sent in the database encoding; we ask UTF8)."""
        end = self._data.find(b"\0", self._pos)
        if end < 0:
            raise self.fail(f"truncated: {what} has no NUL terminator")
        raw = self._data[self._pos : end]
        text = self.utf8(raw, what)
        self._pos = end + 1
        return text

    def utf8(self, raw: bytes, what: str, offset: int | None = None) -> str:
        """Decode ``raw`` (read at ``offset``, default: the current offset) as UTF-8."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not valid UTF-8 ({exc.reason})", offset) from exc

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk

    def expect_end(self) -> None:
        """Raise unless every byte was consumed: trailing bytes mean we misread the layout."""
        left = len(self._data) - self._pos
        if left:
            raise self.fail(f"{left} unexpected trailing bytes")
