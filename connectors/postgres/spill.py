"""An append-only buffer that keeps its first items in memory and spills the rest to disk.

A transaction's changes must be held until its commit (positions are only known then), and a
transaction can be far larger than memory. Past ``max_in_memory`` items, each further item is
pickled into an anonymous temporary file (deleted when closed or collected), so memory stays
bounded by ``max_in_memory`` whatever the transaction's size.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Generic, TypeVar, cast

T = TypeVar("T")


class SpillBuffer(Generic[T]):
    def __init__(self, max_in_memory: int) -> None:
        self._memory: list[T] = []
        self._max = max_in_memory
        self._file: IO[bytes] | None = None
        self._spilled = 0

    def append(self, item: T) -> None:
        if len(self._memory) < self._max:
            self._memory.append(item)
            return
        if self._file is None:
            # closed by close() or when the buffer is collected; no `with` can span appends
            self._file = tempfile.TemporaryFile(prefix="strangler-tx-")  # noqa: SIM115
        self._file.seek(0, 2)
        pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)
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
        for _ in range(self._spilled):
            yield cast(T, pickle.load(self._file))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = []
        self._spilled = 0
