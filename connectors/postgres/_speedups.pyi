"""Types of the native hot path (``_speedups.c``)."""

from collections.abc import Sequence

class Encoder:
    """PostgreSQL text rows (COPY format) to Confluent-framed Avro key and value records."""

    def __init__(
        self,
        columns: Sequence[tuple[int, int]],
        value_fields: Sequence[tuple[int, bool]],
        key_fields: Sequence[int],
        key_schema_id: int,
        value_schema_id: int,
    ) -> None: ...
    def encode(
        self, data: bytes, /
    ) -> tuple[list[bytes | None], list[bytes | None], list[int]]: ...
    def encode_values(self, values: Sequence[object], /) -> tuple[bytes, bytes] | None: ...
    def encode_tuple(self, data: bytes, offset: int, /) -> tuple[bytes, bytes] | None: ...
    def encode_full_update(self, data: bytes, offset: int, /) -> tuple[bytes, bytes] | None: ...
