"""Types of the native hot paths (``_speedups.c``)."""

from collections.abc import Callable, Sequence
from typing import Any

class Reader:
    """A native reader of one writer schema: (payload, start) -> (record, end)."""

    def __call__(self, payload: bytes, start: int, /) -> tuple[dict[str, Any], int]: ...

def make_reader(plan: list[tuple[str, bool, list[tuple[int, Any, Any, Any]]]], /) -> Reader: ...

class Decoder:
    """The common case of decoding Kafka records of table topics."""

    def __init__(
        self,
        lsn_topics: dict[str, bool],
        ops: dict[Any, Any],
        update: Any,
        delete: Any,
        truncate: Any,
        record_type: Callable[..., Any],
        schema: Callable[[int], tuple[Any, Any]],
        position: Callable[[str, Any, Any], bytes],
    ) -> None: ...
    def decode(self, message: Any, /) -> Any | None: ...
    def decode_all(
        self, messages: Sequence[Any], fallback: Callable[[Any], Any], /
    ) -> list[Any]: ...

def compact(records: Sequence[Any], truncate_op: Any, /) -> tuple[bytes | None, dict[Any, Any]]: ...
def isoformat(value: Any, /) -> str: ...
def stage(
    records: list[Any],
    start: int,
    rows: list[Any],
    mark: bytes | None,
    key_schema: Any,
    value_schema: Any,
    keys: tuple[str, ...],
    values: tuple[str, ...],
    converters: list[Any],
    staged_type: Any,
    /,
) -> int: ...
def survey(
    batch: Sequence[Any], change_type: type, /
) -> tuple[
    dict[str, list[Any]], list[Any], dict[tuple[str, int], int], dict[tuple[str, int], bytes]
]: ...
def sqlite_params(
    rows: Sequence[Any], nkey: int, /
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]: ...
def copy_text(rows: Sequence[Any], width: int, staged: bool, /) -> bytes | None: ...
def copy_binary(
    rows: Sequence[Any], width: int, staged: bool, types: Sequence[str], /
) -> bytes | None: ...
def same(value: Any, /) -> Any: ...
