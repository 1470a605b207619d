"""Snapshot progress: which tables are done, and after which key the next chunk starts.

Kept in a small local JSON file (``<state_dir>/<source>.snapshot.json``), written atomically
(temporary file, fsync, rename) and only with chunks Kafka has acknowledged, so a crash
mid-snapshot resumes after the last acknowledged chunk rather than from zero. The stream position
itself is not here: it is the replication slot's confirmed position, kept by PostgreSQL.

The file belongs to one slot: it records the slot's consistent point, and a slot created anew
(dropped, lost) starts a new file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strangler.connectors.postgres.errors import PostgresError
from strangler.connectors.postgres.lsn import Lsn
from strangler.core.events import TableId

KeyText = tuple[str | None, ...]


@dataclass(slots=True)
class TableProgress:
    done: bool = False
    after: KeyText | None = None
    """Text form of the last key of the last acknowledged chunk (None: from the start)."""


@dataclass(slots=True)
class SnapshotProgress:
    slot: str
    consistent_point: Lsn
    tables: dict[TableId, TableProgress] = field(default_factory=dict)

    def pending(self, tables: list[TableId]) -> list[TableId]:
        """Those of ``tables`` not completely snapshotted (new ones included)."""
        return [t for t in tables if not self.tables.get(t, TableProgress()).done]

    def mark(self, table: TableId, after: KeyText | None, done: bool) -> None:
        self.tables[table] = TableProgress(done, after)

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "consistent_point": self.consistent_point.encode(),
            "tables": [
                [t.schema, t.name, p.done, None if p.after is None else list(p.after)]
                for t, p in sorted(self.tables.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SnapshotProgress:
        tables = {
            TableId(schema, name): TableProgress(
                bool(done), None if after is None else tuple(after)
            )
            for schema, name, done, after in data["tables"]
        }
        return cls(str(data["slot"]), Lsn.parse(data["consistent_point"]), tables)


class ProgressFile:
    """Loads and saves one source's ``SnapshotProgress``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SnapshotProgress | None:
        if not self.path.exists():
            return None
        try:
            return SnapshotProgress.from_json(json.loads(self.path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise PostgresError(
                f"snapshot progress file {self.path} is unreadable: {exc}",
                fix="delete it; tables not known to be complete are then snapshotted again",
            ) from exc

    def save(self, progress: SnapshotProgress) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as out:
            json.dump(progress.to_json(), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
