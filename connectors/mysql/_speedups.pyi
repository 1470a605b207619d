"""Types of the native binlog row decoder (``_speedups.c``)."""

from collections.abc import Callable
from typing import Any

ColumnSpec = tuple[
    str, int, int, int, int, int, str | None, tuple[str, ...] | None, Callable[[Any], Any] | None
]
"""(name, binlog field type, form, metadata a, metadata b, pad, encoding, labels, hook)."""

class RowDecoder:
    """Row images of one table version's row events → (before, after) row dicts."""

    def __init__(self, columns: tuple[ColumnSpec, ...], zero_date: object) -> None: ...
    def decode(
        self, image: bytes | memoryview, op: int, /
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]: ...

FieldSpec = tuple[int, bool, int, int]
"""(source column index, nullable, Avro kind, decimal scale): one field of a record."""

class RowEncoder:
    """Row images of one table version's row events → the framed Avro records of its
    published schema (None: declined, the Python path writes the event)."""

    def __init__(
        self,
        decoder: RowDecoder,
        value: tuple[FieldSpec, ...],
        key: tuple[FieldSpec, ...],
        value_id: int,
        key_id: int,
    ) -> None: ...
    def encode(
        self, image: bytes | memoryview, op: int, /
    ) -> list[tuple[bytes, bytes | None]] | None: ...

TextColumnSpec = tuple[str, int, int, int, str | None, Callable[[Any], Any]]
"""(name, form, bit width, pad, pymysql's encoding of the field, from_text)."""

class TextDecoder:
    """A SELECT's text-protocol row packets → row dicts."""

    def __init__(self, columns: tuple[TextColumnSpec, ...]) -> None: ...
    def decode(self, packet: bytes, /) -> dict[str, Any]: ...
