"""An append-only buffer that keeps its first items in memory and spills the rest to disk.

A transaction's changes must be held until its commit (positions are only known then), and a
transaction can be far larger than memory. Past ``max_in_memory`` items, each further item is
serialised (``dump``, default pickle) into an anonymous temporary file, deleted when closed or
collected, as length-prefixed records; memory stays bounded by ``max_in_memory`` whatever the
transaction's size.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

_LENGTH = struct.Struct("!I")


def _pickle_load(data: bytes) -> Any:
    return pickle.loads(data)


def _pickle_dump(item: Any) -> bytes:
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


class SpillBuffer(Generic[T]):
    def __init__(
        self,
        max_in_memory: int,
        dump: Callable[[T], bytes] = _pickle_dump,
        load: Callable[[bytes], T] = _pickle_load,
    ) -> None:
        self._memory: list[T] = []
        self._max = max_in_memory
        self._dump = dump
        self._load = load
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._reading = False  # the file position is not at its end

    def append(self, item: T) -> None:
        if len(self._memory) < self._max:
            self._memory.append(item)
            return
        if self._file is None:
            # closed by close() or when the buffer is collected; no `with` can span appends
            self._file = tempfile.TemporaryFile(prefix="strangler-tx-")  # noqa: SIM115
        data = self._dump(item)
        if self._reading:
            self._file.seek(0, 2)
            self._reading = False
        self._file.write(_LENGTH.pack(len(data)) + data)
        self._spilled += 1

    @property
    def spilled(self) -> int:
        """How many items are on disk."""
        return self._spilled

    def __len__(self) -> int:
        return len(self._memory) + self._spilled

    def __iter__(self) -> Iterator[T]:
        """Items in append order. Do not append while iterating."""
        yield from self._memory
        if self._file is None:
            return
        self._file.seek(0)
        self._reading = True
        for _ in range(self._spilled):
            (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
            yield self._load(self._file.read(length))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = []
        self._spilled = 0
