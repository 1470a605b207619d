"""The drill's legacy table (``public.accounts`` of a PostgreSQL "bank"), its generated rows, the
schema changes the drill makes, and what the drill looks at: the registered schema versions and
the view's columns and rows.

Endpoints and names come from the environment, as in the pipeline files: STRANGLER_PG_DSN (the
source database, which also holds the view's schema), STRANGLER_REGISTRY_URL,
EVOLUTION_TOPIC_PREFIX, EVOLUTION_SLOT, EVOLUTION_VIEW_SCHEMA.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg import sql

PG_DSN = os.environ.get("STRANGLER_PG_DSN", "postgresql://postgres@127.0.0.1:25432/postgres")
REGISTRY = os.environ.get("STRANGLER_REGISTRY_URL", "http://127.0.0.1:28081")
PREFIX = os.environ.get("EVOLUTION_TOPIC_PREFIX", "bank")
SLOT = os.environ.get("EVOLUTION_SLOT", "evolution_bank")
VIEW_SCHEMA = os.environ.get("EVOLUTION_VIEW_SCHEMA", "accounts_service")
SUBJECT = f"{PREFIX}.public.accounts-value"
SUBJECT_V2 = f"{PREFIX}-v2.public.accounts-value"
ACCOUNTS = 20
FIRST_NAMES = ("Ada", "Bea", "Cem", "Dan", "Eva", "Femi", "Gus", "Hana", "Ivo", "Jo")


@dataclass(frozen=True)
class Change:
    """One step of the drill: statements run in one transaction in the legacy database."""

    name: str
    title: str
    statements: tuple[str, ...]


CHANGES = {
    c.name: c
    for c in (
        Change(
            "add_column",
            "add columns: one nullable, one NOT NULL with a constant default",
            (
                "ALTER TABLE accounts ADD COLUMN tier text DEFAULT 'basic'",
                "ALTER TABLE accounts ADD COLUMN currency text NOT NULL DEFAULT 'EUR'",
                "UPDATE accounts SET tier = 'gold', currency = 'USD' WHERE balance >= 1500",
            ),
        ),
        Change(
            "widen",
            "widen a type: balance int -> bigint",
            (
                "ALTER TABLE accounts ALTER COLUMN balance TYPE bigint",
                "UPDATE accounts SET balance = 5000000000 WHERE id = 3",
            ),
        ),
        Change(
            "rename",
            "rename a column: email -> contact_email",
            (
                "ALTER TABLE accounts RENAME COLUMN email TO contact_email",
                "UPDATE accounts SET contact_email = 'ada.new@example.org' WHERE id = 1",
            ),
        ),
        Change(
            "backfill",
            "backfill: every row once more, in the new shape",
            ("UPDATE accounts SET contact_email = contact_email",),
        ),
        Change(
            "incompatible",
            "an incompatible change: balance bigint -> numeric(14,2)",
            (
                "ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(14, 2)",
                "UPDATE accounts SET balance = balance + 0.25 WHERE id = 5",
            ),
        ),
        Change(
            "after_rollout",
            "business as usual on the new topics",
            ("UPDATE accounts SET balance = 99.99, tier = 'gold' WHERE id = 7",),
        ),
    )
}


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_DSN, autocommit=True)


def setup(seed: int) -> None:
    """The bank's accounts table, filled from ``seed`` (the same rows every time)."""
    rng = random.Random(seed)
    with connect() as conn:
        conn.execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, "
            "balance int NOT NULL, email text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO accounts VALUES (%s, %s, %s, %s)",
                [
                    (i, f"{rng.choice(FIRST_NAMES)} {i}", rng.randint(0, 3000), f"o{i}@example.org")
                    for i in range(1, ACCOUNTS + 1)
                ],
            )
    print(f"setup: public.accounts with {ACCOUNTS} rows (seed {seed})")


def apply(change: Change) -> str:
    """Run the change in one transaction; the WAL position after its commit."""
    with connect() as conn:
        with conn.transaction():
            for statement in change.statements:
                conn.execute(statement.encode())
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def wait_confirmed(slot: str, lsn: str, alive: Callable[[], bool], timeout: float = 60) -> None:
    """Wait until the connector confirmed ``lsn`` to the slot: everything before it is in Kafka."""
    query = (
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s"
    )
    deadline = time.monotonic() + timeout
    with connect() as conn:
        while not (row := conn.execute(query, [lsn, slot]).fetchone()) or not row[0]:
            if not alive() or time.monotonic() > deadline:
                raise SystemExit(f"slot {slot} did not confirm {lsn}; see connect.log")
            time.sleep(0.2)


def versions(subject: str) -> list[dict[str, Any]]:
    """Every registered version of ``subject``: its number and its fields as name → type."""
    with httpx.Client(base_url=REGISTRY, timeout=10) as client:
        numbers = client.get(f"/subjects/{subject}/versions").raise_for_status().json()
        out = []
        for number in numbers:
            answer = client.get(f"/subjects/{subject}/versions/{number}").raise_for_status()
            schema = json.loads(answer.json()["schema"])
            fields = {f["name"]: f["type"] for f in schema["fields"]}
            out.append({"version": number, "fields": fields})
        return out


def compatibility(subject: str) -> str:
    """The compatibility level the registry applies to ``subject``."""
    with httpx.Client(base_url=REGISTRY, timeout=10) as client:
        answer = client.get(f"/config/{subject}", params={"defaultToGlobal": "true"})
        return str(answer.raise_for_status().json()["compatibilityLevel"])


def view_columns(table: str = "accounts") -> list[list[str]]:
    """The view table's columns and their types (without strangler's own)."""
    with connect() as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name NOT LIKE '\\_\\_%%' "
            "ORDER BY ordinal_position",
            [VIEW_SCHEMA, table],
        ).fetchall()
    return [[name, kind] for name, kind in rows]


def view_rows(columns: Sequence[str]) -> dict[int, tuple[Any, ...]]:
    """The view's rows by id: ``columns`` of ``VIEW_SCHEMA.accounts``."""
    query = sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(VIEW_SCHEMA, "accounts"),
    )
    with connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(query)}


def source_rows(columns: Sequence[str]) -> dict[int, tuple[Any, ...]]:
    """The legacy table's rows by id: ``columns`` of ``public.accounts``."""
    query = sql.SQL("SELECT {} FROM public.accounts ORDER BY 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(query)}
