"""Types of the native snapshot encoder (``_snapshot.c``)."""

from collections.abc import Sequence

class TextEncoder:
    """A SELECT's text-protocol row packets → Confluent-framed Avro key and value records."""

    def __init__(
        self,
        columns: Sequence[tuple[int, int, int]],
        value_fields: Sequence[tuple[int, bool]],
        key_fields: Sequence[int],
        key_schema_id: int,
        value_schema_id: int,
    ) -> None: ...
    def encode_packet(self, packet: bytes, /) -> tuple[bytes, bytes] | None: ...
    def feed(
        self,
        data: bytes | bytearray,
        seq: int,
        keys: list[bytes | None],
        values: list[bytes | None],
        declined: list[tuple[int, bytes]],
        /,
    ) -> tuple[int, int, int, bytes | None, bytes | None]: ...
