"""PostgreSQL log sequence numbers: a 64-bit WAL byte position, written ``X/X`` in hex."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strangler.connectors.postgres.errors import LsnError
from strangler.core.events import Position

_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Lsn(Position):
    """A WAL position. Totally ordered; ``str()`` and ``encode()`` give PostgreSQL's text form."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= _MAX:
            raise LsnError(f"LSN {self.value} is outside 0..2**64-1")

    @classmethod
    def parse(cls, text: str) -> Lsn:
        """Parse ``'16/B374D848'`` (each half 1-8 hex digits, as ``pg_lsn`` prints it)."""
        high, sep, low = text.strip().partition("/")
        if not sep or not _is_hex32(high) or not _is_hex32(low):
            raise LsnError(f"{text!r} is not an LSN; expected two hex numbers like '16/B374D848'")
        return cls((int(high, 16) << 32) | int(low, 16))

    def encode(self) -> str:
        return f"{self.value >> 32:X}/{self.value & 0xFFFFFFFF:X}"

    def __str__(self) -> str:
        return self.encode()

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, Lsn):
            return NotImplemented
        return self.value < other.value

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, Lsn):
            return NotImplemented
        return self.value > other.value

    def __ge__(self, other: Any) -> bool:
        if not isinstance(other, Lsn):
            return NotImplemented
        return self.value >= other.value


ZERO = Lsn(0)
"""``0/0``: PostgreSQL's InvalidXLogRecPtr, also "start from the slot's confirmed position"."""


def _is_hex32(part: str) -> bool:
    return 1 <= len(part) <= 8 and all(c in "0123456789abcdefABCDEF" for c in part)
