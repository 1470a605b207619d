"""Reading views back for comparison, and building view configs for the Kafka tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from strangler.materializers.config import ViewConfig
from strangler.materializers.tables import POSITION_COLUMN
from tests.unit.materializers.changelog import normalise

Rows = dict[int, tuple[Any, ...]]


def view_config(name: str, topic: str, target: dict[str, Any], **extra: Any) -> ViewConfig:
    return ViewConfig.model_validate(
        {
            "name": name,
            "target": target,
            "topics": [{"topic": topic, "table": "items"}],
            "batch_timeout_ms": 200,
            **extra,
        }
    )


def _split(names: list[str], rows: list[tuple[Any, ...]]) -> tuple[list[str], Rows]:
    keep = [i for i, n in enumerate(names) if n not in ("id", POSITION_COLUMN)]
    return [names[i] for i in keep], {r[0]: tuple(r[i] for i in keep) for r in rows}


def sqlite_rows(path: Path) -> tuple[list[str], Rows]:
    conn = sqlite3.connect(path)
    try:
        cur = conn.execute('SELECT * FROM "items"')
        return _split([d[0] for d in cur.description], cur.fetchall())
    finally:
        conn.close()


def postgres_rows(dsn: str, schema: str) -> tuple[list[str], Rows]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(f'SELECT * FROM "{schema}"."items"'.encode())
        return _split([d.name for d in cur.description or ()], cur.fetchall())


def matches(found: tuple[list[str], Rows], expected: dict[int, dict[str, Any]]) -> bool:
    columns, rows = found
    return rows == normalise(expected, columns)
