"""A MySQL source's stored state: where streaming resumes, and how far the snapshot got.

One document, saved through an ``OffsetStore`` (file or compacted Kafka topic) and only with
what Kafka acknowledged:

- ``position``: the binlog position after the last transaction whose events Kafka has all
  acknowledged (during the first snapshot: the snapshot's own position, where the stream
  starts once the snapshot is done);
- ``tables``: per table, whether its snapshot is complete and the key after which the next
  chunk starts (a crash mid-snapshot resumes after the last acknowledged chunk).

Snapshot resume keys are query parameters (int, Decimal, text, bytes); they are stored tagged
so they come back with their types (a BIGINT key compared as a string would be compared as a
double, see ``snapshot``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from strangler.connectors.mysql.errors import MysqlError, PositionError
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.offsets import OffsetStore
from strangler.core.events import TableId

KeyParams = tuple[Any, ...]
VERSION = 1


@dataclass(slots=True)
class TableProgress:
    done: bool = False
    after: KeyParams | None = None
    """The last key of the last acknowledged chunk (None: from the start)."""


@dataclass(slots=True)
class SourceState:
    position: BinlogPosition
    tables: dict[TableId, TableProgress] = field(default_factory=dict)

    def pending(self, tables: Sequence[TableId]) -> list[TableId]:
        """Those of ``tables`` not completely snapshotted (tables new to the pipeline too)."""
        return [t for t in tables if not self.tables.get(t, TableProgress()).done]

    def mark(self, table: TableId, after: KeyParams | None, done: bool) -> None:
        self.tables[table] = TableProgress(done, after)

    def after(self, table: TableId) -> KeyParams | None:
        progress = self.tables.get(table)
        return progress.after if progress is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "position": self.position.encode(),
            "tables": [
                [t.schema, t.name, p.done, None if p.after is None else _encode_key(p.after)]
                for t, p in sorted(self.tables.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceState:
        try:
            tables = {
                TableId(schema, name): TableProgress(
                    bool(done), None if after is None else _decode_key(after)
                )
                for schema, name, done, after in data["tables"]
            }
            return cls(BinlogPosition.parse(str(data["position"])), tables)
        except (KeyError, TypeError, ValueError, PositionError) as exc:
            raise MysqlError(
                f"the stored state is unreadable: {exc}",
                fix="clear the stored position (delete the offsets file, or produce a "
                "tombstone for the source in the offsets topic): a new snapshot follows",
            ) from exc


def _encode_key(values: KeyParams) -> list[Any]:
    return [_encode_value(v) for v in values]


def _encode_value(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"hex": bytes(value).hex()}
    return {"text": str(value)}


def _decode_key(values: list[Any]) -> KeyParams:
    return tuple(_decode_value(v) for v in values)


def _decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "decimal" in value:
        return Decimal(value["decimal"])
    if "hex" in value:
        return bytes.fromhex(value["hex"])
    return str(value["text"])


class StateStore:
    """``SourceState`` over an ``OffsetStore``."""

    def __init__(self, store: OffsetStore) -> None:
        self.store = store

    def load(self) -> SourceState | None:
        data = self.store.load()
        return None if data is None else SourceState.from_json(data)

    def save(self, state: SourceState) -> None:
        self.store.save(state.to_json())

    def clear(self) -> None:
        self.store.clear()
