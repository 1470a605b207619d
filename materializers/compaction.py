"""Compacting a batch of one topic by key, in log order, before it is applied.

Walks the records in the order Kafka delivered them and keeps, per key, the last change that
is not older than what the batch already holds for that key (a Kafka-level duplicate of an
older change, re-published after a producer crash, never wins). A truncate at position P
drops the pending changes at or before P and is applied before the changes kept after it.
Deletes and upserts stay interleaved exactly as the log has them: the result is, per key, the
one change a sequential replay would have left.

``compact`` runs this loop in C (``_speedups.compact``); ``compact_python`` is the same loop
in Python, the reference the C one is tested against.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers.records import ChangeRecord

TRUNCATE = Op.TRUNCATE

Key = tuple[Hashable, ...]


@dataclass(slots=True)
class CompactedBatch:
    """What one topic's part of a batch does to its table."""

    truncate: bytes | None = None
    """Position of the latest truncate in the batch, if any."""
    changes: dict[Key, ChangeRecord] = field(default_factory=dict)
    """The surviving change per key."""


def key_of(record: ChangeRecord) -> Key:
    """The key tuple of ``record``, its key fields in key-schema order."""
    assert record.key is not None  # only truncates have no key, and they are no changes
    return tuple(record.key.values())


def compact(records: Sequence[ChangeRecord]) -> CompactedBatch:
    """The batch compacted by key in log order (see the module docstring)."""
    truncate, changes = _speedups.compact(records, TRUNCATE)
    return CompactedBatch(truncate, changes)


def compact_python(records: Iterable[ChangeRecord]) -> CompactedBatch:
    """``compact`` in Python (the reference of the C loop)."""
    out = CompactedBatch()
    changes = out.changes
    for record in records:
        if record.op is TRUNCATE:
            _truncate(out, record.position)
            changes = out.changes
            continue
        if out.truncate is not None and record.position < out.truncate:
            continue
        assert record.key is not None  # only truncates have no key
        key = tuple(record.key.values())  # key_of, inlined: this runs for every record
        kept = changes.get(key)
        if kept is None or kept.position <= record.position:
            changes[key] = record
    return out


def _truncate(out: CompactedBatch, position: bytes) -> None:
    if out.truncate is None or out.truncate < position:
        out.truncate = position
    out.changes = {k: r for k, r in out.changes.items() if r.position > position}
