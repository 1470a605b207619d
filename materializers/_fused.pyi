"""Types of the fused apply of SQLite and PostgreSQL views (``_fused.c``)."""

from collections.abc import Callable, Sequence
from typing import Any

same_library: int

class Declined(Exception):
    """args: (what, SQLite's extended result code or 0, SQLite's message or "")."""

class Plan:
    """A compiled plan of one pair of writer schemas."""

class Batch:
    """A scanned batch: the changes kept per key, ready to bind."""

    topics: list[str]
    kinds: list[list[bool]]
    offsets: dict[tuple[str, int], int]
    positions: dict[tuple[str, int], bytes]

    def run(
        self,
        connection: Any,
        topic: str,
        deletes: bool,
        sql: str,
        position_param: int,
        otherwise: str | None = None,
        /,
    ) -> int: ...
    def copy(self, topic: str, staged: bool, types: Sequence[str], /) -> bytes: ...

def compile(
    key_id: int,
    key_fields: Sequence[tuple[int, bool, Sequence[tuple[int, Any]]]],
    value_id: int,
    value_fields: Sequence[tuple[int, bool, Sequence[tuple[int, Any]]]] | None,
    /,
) -> Plan: ...
def scan(
    messages: Sequence[Any],
    plans: dict[tuple[str, int, int], Plan | None],
    lsn_topics: dict[str, bool],
    position: Callable[[str, Any, Any], bytes],
    marks: dict[str, bytes | None],
    /,
) -> Batch | tuple[str, tuple[str, int, int]] | None: ...
def filename(connection: Any, /) -> str | None: ...
