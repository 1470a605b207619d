"""Binlog positions: MariaDB GTID positions, MySQL GTID sets, and file:pos.

MariaDB and MySQL name transactions differently:

- MariaDB: ``domain-server-seq`` (``0-1-42``). Sequence numbers grow within a replication
  domain (strictly, with ``gtid_strict_mode``); a position is the last GTID applied per domain,
  ``0-1-42,1-7-9``, exactly the text of ``@@gtid_binlog_pos`` and what a replica sends as
  ``@slave_connect_state``. Resuming from it streams the transactions *after* it.
- MySQL: ``source_uuid:gno``; a position is the set of every transaction executed
  (``3e11fa47-…:1-5:7``), as ``@@gtid_executed`` prints it. Resuming sends the set and the
  server skips everything in it.
- Without GTIDs, a position is the binlog file and the byte offset of the next event
  (``binlog.000012:4711``). Offsets are only meaningful on the server that wrote the file.

``BinlogPosition`` carries a GTID position (when the server has one) and the file:pos of the
same point; ordering uses the GTIDs when both sides have them, else file:pos. Text form:
``<gtid>@<file>:<pos>``, either side may be empty (``0-1-5@``, ``@binlog.000003:4``).

GTID positions over several domains (or several source uuids) are only partially ordered in
general; positions taken from one stream always compare, because every transaction advances
one domain and leaves the others as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from strangler.connectors.mysql.errors import PositionError
from strangler.core.events import Position

_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_FILE = re.compile(r"^(.*?)(\d+)$")
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True, order=True)
class MariadbGtid:
    """One MariaDB GTID: ``domain-server-seq``."""

    domain: int
    server_id: int
    seq: int

    def __post_init__(self) -> None:
        if not (0 <= self.domain <= _U32 and 0 <= self.server_id <= _U32 and 0 <= self.seq <= _U64):
            raise PositionError(f"GTID {self} has a part out of range")

    @classmethod
    def parse(cls, text: str) -> MariadbGtid:
        match = _MARIADB_GTID.match(text.strip())
        if match is None:
            raise PositionError(
                f"{text!r} is not a MariaDB GTID; expected domain-server-seq like '0-1-42'"
            )
        domain, server, seq = (int(g) for g in match.groups())
        return cls(domain, server, seq)

    def __str__(self) -> str:
        return f"{self.domain}-{self.server_id}-{self.seq}"


@dataclass(frozen=True, slots=True)
class MariadbGtidPos(Position):
    """The last GTID applied in each replication domain (``@@gtid_binlog_pos``)."""

    gtids: tuple[MariadbGtid, ...] = ()
    """One per domain, sorted by domain."""

    def __post_init__(self) -> None:
        domains = [g.domain for g in self.gtids]
        if domains != sorted(set(domains)):
            raise PositionError(f"{self.encode()!r}: one GTID per domain, sorted by domain")

    @classmethod
    def parse(cls, text: str) -> MariadbGtidPos:
        """``'0-1-42,1-7-9'`` (empty text: no transaction yet)."""
        parts = [p for p in text.replace(" ", "").split(",") if p]
        gtids = [MariadbGtid.parse(p) for p in parts]
        if len({g.domain for g in gtids}) != len(gtids):
            raise PositionError(f"{text!r} names a replication domain twice")
        return cls(tuple(sorted(gtids)))

    def advance(self, gtid: MariadbGtid) -> MariadbGtidPos:
        """The position after the transaction ``gtid`` (its domain replaced)."""
        others = [g for g in self.gtids if g.domain != gtid.domain]
        return MariadbGtidPos(tuple(sorted([*others, gtid])))

    def seq(self, domain: int) -> int:
        """The last sequence number applied in ``domain`` (0: none)."""
        return next((g.seq for g in self.gtids if g.domain == domain), 0)

    def encode(self) -> str:
        return ",".join(str(g) for g in self.gtids)

    def __str__(self) -> str:
        return self.encode()

    def _domains(self, other: MariadbGtidPos) -> set[int]:
        return {g.domain for g in self.gtids} | {g.domain for g in other.gtids}

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, MariadbGtidPos):
            return NotImplemented
        domains = self._domains(other)
        not_after = all(self.seq(d) <= other.seq(d) for d in domains)
        return not_after and any(self.seq(d) < other.seq(d) for d in domains)

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, MariadbGtidPos):
            return NotImplemented
        return other < self


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class MysqlGtidSet(Position):
    """A MySQL GTID set: source uuid → intervals of transaction numbers (``@@gtid_executed``).

    Ordered by inclusion: ``a < b`` when every transaction of ``a`` is in ``b`` and ``b`` has
    more."""

    intervals: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()
    """Sorted by uuid (lower case, with dashes); each uuid's intervals merged and sorted."""

    @classmethod
    def parse(cls, text: str) -> MysqlGtidSet:
        """``'3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,…'`` (newlines and spaces ignored)."""
        found: dict[str, list[tuple[int, int]]] = {}
        for part in re.sub(r"\s", "", text).split(","):
            if part:
                sid, ranges = _parse_uuid_part(part)
                found.setdefault(sid, []).extend(ranges)
        return cls.of(found)

    @classmethod
    def of(cls, found: dict[str, list[tuple[int, int]]]) -> MysqlGtidSet:
        return cls(tuple((sid, _merge(found[sid])) for sid in sorted(found)))

    def add(self, sid: str, gno: int) -> MysqlGtidSet:
        """The set after transaction ``sid:gno``."""
        found = {s: list(r) for s, r in self.intervals}
        found.setdefault(_norm_uuid(sid), []).append((gno, gno))
        return self.of(found)

    def contains(self, sid: str, gno: int) -> bool:
        ranges = dict(self.intervals).get(_norm_uuid(sid), ())
        return any(start <= gno <= end for start, end in ranges)

    def encode(self) -> str:
        return ",".join(
            sid + "".join(f":{a}" if a == b else f":{a}-{b}" for a, b in ranges)
            for sid, ranges in self.intervals
        )

    def __str__(self) -> str:
        return self.encode()

    def _subset_of(self, other: MysqlGtidSet) -> bool:
        theirs = dict(other.intervals)
        return all(
            any(c <= a and b <= d for c, d in theirs.get(sid, ()))
            for sid, ranges in self.intervals
            for a, b in ranges
        )

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, MysqlGtidSet):
            return NotImplemented
        return self != other and self._subset_of(other)

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, MysqlGtidSet):
            return NotImplemented
        return other < self


def _norm_uuid(text: str) -> str:
    if not _UUID.match(text):
        raise PositionError(f"{text!r} is not a server uuid")
    raw = text.replace("-", "").lower()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _parse_uuid_part(part: str) -> tuple[str, list[tuple[int, int]]]:
    sid, *ranges = part.split(":")
    if not ranges:
        raise PositionError(f"{part!r} is not uuid:interval[:interval…]")
    out = []
    for text in ranges:
        start, _, end = text.partition("-")
        if not start.isdigit() or not (end or start).isdigit():
            raise PositionError(f"{text!r} in {part!r} is not an interval like 1-5")
        low, high = int(start), int(end or start)
        if not 1 <= low <= high:
            raise PositionError(f"{text!r} in {part!r} is empty or starts below 1")
        out.append((low, high))
    return _norm_uuid(sid), out


@dataclass(frozen=True, slots=True)
class FilePosition(Position):
    """A binlog file name and the byte offset of the next event to read."""

    file: str
    pos: int

    def __post_init__(self) -> None:
        if not self.file or _FILE.match(self.file) is None or not 0 <= self.pos <= _U64:
            raise PositionError(f"{self.file!r}:{self.pos} is not a binlog file position")

    @classmethod
    def parse(cls, text: str) -> FilePosition:
        """``'binlog.000012:4711'``."""
        file, sep, pos = text.strip().rpartition(":")
        if not sep or not pos.isdigit():
            raise PositionError(f"{text!r} is not file:pos like 'binlog.000012:4711'")
        return cls(file, int(pos))

    def sort_key(self) -> tuple[str, int, int]:
        # binlog names end in a counter (binlog.000999 → binlog.001000); compare it as a number
        match = _FILE.match(self.file)
        assert match is not None  # checked in __post_init__
        return match.group(1), int(match.group(2)), self.pos

    def encode(self) -> str:
        return f"{self.file}:{self.pos}"

    def __str__(self) -> str:
        return self.encode()

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, FilePosition):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, FilePosition):
            return NotImplemented
        return self.sort_key() > other.sort_key()


Gtids = MariadbGtidPos | MysqlGtidSet


def parse_gtids(text: str) -> Gtids:
    """A MariaDB GTID position or a MySQL GTID set, told apart by their syntax."""
    return MysqlGtidSet.parse(text) if ":" in text else MariadbGtidPos.parse(text)


@dataclass(frozen=True, slots=True)
class BinlogPosition(Position):
    """A point in the binlog: the GTID position there and/or the file:pos of it."""

    gtids: Gtids | None = None
    file: FilePosition | None = None

    def __post_init__(self) -> None:
        if self.gtids is None and self.file is None:
            raise PositionError("a binlog position needs a GTID position or a file:pos")

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        """``'0-1-5@binlog.000002:5516'``, ``'0-1-5@'`` or ``'@binlog.000002:5516'``; text
        without ``@`` is a GTID position when it parses as one, else file:pos."""
        if "@" not in text:
            try:
                return cls(gtids=parse_gtids(text))
            except PositionError:
                return cls(file=FilePosition.parse(text))
        gtid_text, _, file_text = text.strip().partition("@")
        gtids = parse_gtids(gtid_text) if gtid_text else None
        file = FilePosition.parse(file_text) if file_text else None
        return cls(gtids, file)

    def encode(self) -> str:
        gtids = self.gtids.encode() if self.gtids is not None else ""
        return f"{gtids}@{self.file.encode() if self.file else ''}"

    def __str__(self) -> str:
        return self.encode()

    def _comparable(self, other: BinlogPosition) -> tuple[Position, Position]:
        if self.gtids is not None and type(self.gtids) is type(other.gtids):
            assert other.gtids is not None
            return self.gtids, other.gtids
        if self.file is not None and other.file is not None:
            return self.file, other.file
        raise PositionError(f"positions {self} and {other} have nothing in common to compare")

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, BinlogPosition):
            return NotImplemented
        mine, theirs = self._comparable(other)
        return bool(mine < theirs)

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, BinlogPosition):
            return NotImplemented
        return other < self
