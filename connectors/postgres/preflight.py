"""Checks before anything is created: the server, the role and every captured table.

Each problem is a ``Finding`` that names the thing and the fix. Errors stop the connector
before it creates a slot or a publication; warnings are logged and the connector goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.errors import PostgresError
from strangler.core.events import TableId

# typstorage 'x' (extended) or 'e' (external): values may be stored out of line (TOAST), and an
# UPDATE that leaves such a value untouched does not send it unless the replica identity is FULL.
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relreplident,
       pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owned,
       pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable,
       coalesce((SELECT array_agg(a.attname ORDER BY k.n)
                 FROM pg_catalog.pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS pkey,
       array_agg(a.attname ORDER BY a.attnum) AS columns,
       array_agg(t.typtype ORDER BY a.attnum) AS typtypes,
       array_agg(t.typname ORDER BY a.attnum) AS typnames,
       array_agg(t.typstorage ORDER BY a.attnum) AS storage
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.relreplident, c.relowner
"""

# pseudo-types, composites, ranges and multiranges have no Avro mapping of their own
_TEXT_FALLBACK = {"c": "composite", "r": "range", "m": "multirange", "p": "pseudo-type"}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    subject: str
    """What the finding is about: ``server``, ``role`` or a ``schema.table``."""
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.subject}: {self.problem}\n  fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What preflight and the connector need to know of one table."""

    table: TableId
    oid: int
    partitioned: bool
    replica_identity: str
    owned: bool
    readable: bool
    primary_key: tuple[str, ...]
    columns: tuple[str, ...]
    type_kinds: tuple[str, ...]
    type_names: tuple[str, ...]
    storage: tuple[str, ...]


class PreflightFailed(PostgresError):
    """Preflight found problems that must be fixed before the connector can run."""

    exit_code = 2

    def __init__(self, findings: Sequence[Finding]) -> None:
        errors = [f for f in findings if f.severity is Severity.ERROR]
        text = "\n".join(str(f) for f in errors)
        super().__init__(f"preflight found {len(errors)} problem(s):\n{text}")
        self.findings = list(findings)


def list_tables(conn: psycopg.Connection[Any]) -> dict[TableId, TableFacts]:
    """Every ordinary and partitioned table (partitions are captured through their root)."""
    facts = (_facts(row) for row in conn.execute(_TABLES).fetchall())
    return {f.table: f for f in facts}


def _facts(row: tuple[Any, ...]) -> TableFacts:
    oid, schema, name, kind, identity, owned, readable, pkey, columns, kinds, types, storage = row
    return TableFacts(
        TableId(schema, name), int(oid), kind == "p", str(identity), bool(owned), bool(readable),
        tuple(pkey), tuple(columns), tuple(kinds), tuple(types), tuple(storage),
    )  # fmt: skip


def preflight(
    conn: psycopg.Connection[Any], source: PostgresSource, tables: Sequence[TableFacts]
) -> list[Finding]:
    """Every finding about the server, the role and ``tables`` (the captured ones)."""
    found = [*server_findings(conn, source), *role_findings(conn)]
    if not tables:
        found.append(
            Finding(Severity.ERROR, "tables", "no table matches tables.include", _INCLUDE_FIX)
        )
    publication_missing = not _publication_exists(conn, source.publication)
    for facts in tables:
        found.extend(table_findings(source, facts, must_own=publication_missing))
    return found


_INCLUDE_FIX = "check tables.include patterns (schema.table globs, case-sensitive)"


def server_findings(conn: psycopg.Connection[Any], source: PostgresSource) -> list[Finding]:
    found: list[Finding] = []
    settings = dict(
        conn.execute(
            "SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN "
            "('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_version_num')"
        ).fetchall()
    )
    if int(settings["server_version_num"]) < 100000:
        found.append(_server("PostgreSQL 10 or newer is needed (pgoutput)", "upgrade the server"))
    if settings["wal_level"] != "logical":
        found.append(
            _server(
                f"wal_level is {settings['wal_level']}, logical decoding needs 'logical'",
                "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL",
            )
        )
    found.extend(_capacity(conn, source, settings))
    return found


def _capacity(
    conn: psycopg.Connection[Any], source: PostgresSource, settings: dict[str, str]
) -> list[Finding]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE slot_name = %s) "
        "FROM pg_catalog.pg_replication_slots",
        (source.slot,),
    ).fetchone()
    used, ours = (int(row[0]), int(row[1])) if row else (0, 0)
    senders_row = conn.execute(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'"
    ).fetchone()
    senders = int(senders_row[0]) if senders_row else 0
    found = []
    if not ours and used >= int(settings["max_replication_slots"]):
        found.append(
            _server(
                f"all {settings['max_replication_slots']} replication slots are in use",
                "drop an unused slot (pg_drop_replication_slot) or raise max_replication_slots "
                "and restart",
            )
        )
    if senders >= int(settings["max_wal_senders"]):
        found.append(
            _server(
                f"all {settings['max_wal_senders']} WAL senders are busy",
                "stop an idle replication client or raise max_wal_senders and restart",
            )
        )
    return found


def _server(problem: str, fix: str) -> Finding:
    return Finding(Severity.ERROR, "server", problem, fix)


def role_findings(conn: psycopg.Connection[Any]) -> list[Finding]:
    row = conn.execute(
        "SELECT current_user, rolreplication OR rolsuper FROM pg_catalog.pg_roles "
        "WHERE rolname = current_user"
    ).fetchone()
    if row is None or row[1]:
        return []
    return [
        Finding(
            Severity.ERROR,
            "role",
            f"role {row[0]} has neither REPLICATION nor superuser",
            f'ALTER ROLE "{row[0]}" REPLICATION (as a superuser)',
        )
    ]


def table_findings(source: PostgresSource, facts: TableFacts, *, must_own: bool) -> list[Finding]:
    """Key, replica identity, privileges, column options and types of one captured table."""
    options = source.options(facts.table)
    found = [
        *_key_findings(facts, options.key),
        *_toast_findings(facts, source.replica_identity_full),
        *_column_findings(facts, [*(options.key or ()), *options.exclude_columns]),
        *_type_findings(facts),
    ]
    name = str(facts.table)
    if not facts.readable:
        found.append(
            Finding(
                Severity.ERROR, name, "the role cannot SELECT it (needed for the snapshot)",
                f"GRANT SELECT ON {_quoted(facts.table)} TO <role>",
            )
        )  # fmt: skip
    if needs_full_identity(source, facts) and not facts.owned:
        found.append(
            Finding(
                Severity.ERROR, name, "replica_identity_full is set, but only the table's owner "
                "can change its replica identity",
                f"run as the owner: ALTER TABLE {_quoted(facts.table)} REPLICA IDENTITY FULL",
            )
        )  # fmt: skip
    if must_own and not facts.owned:
        found.append(
            Finding(
                Severity.ERROR, name,
                f"publication {source.publication} is missing and only a table's owner can add "
                "the table to it",
                f"run as the owner: CREATE PUBLICATION {source.publication} FOR TABLE ... "
                "WITH (publish_via_partition_root = true)",
            )
        )  # fmt: skip
    return found


def _key_findings(facts: TableFacts, override: Sequence[str] | None) -> list[Finding]:
    name, quoted = str(facts.table), _quoted(facts.table)
    if not facts.primary_key and override is None:
        return [
            Finding(
                Severity.ERROR, name, "has no primary key and no configured key",
                f"ALTER TABLE {quoted} ADD PRIMARY KEY (...), or set overrides.{name}.key",
            )
        ]  # fmt: skip
    if facts.replica_identity == "n":
        return [
            Finding(
                Severity.ERROR, name,
                "REPLICA IDENTITY NOTHING: updates and deletes carry no key",
                f"ALTER TABLE {quoted} REPLICA IDENTITY FULL (or DEFAULT)",
            )
        ]  # fmt: skip
    covered = bool(facts.primary_key) and set(override or ()) <= set(facts.primary_key)
    if override is not None and facts.replica_identity != "f" and not covered:
        return [
            Finding(
                Severity.ERROR, name,
                f"the configured key {list(override)} is not part of the replica identity, "
                "so deletes would not carry it",
                f"ALTER TABLE {quoted} REPLICA IDENTITY FULL",
            )
        ]  # fmt: skip
    return []


def needs_full_identity(source: PostgresSource, facts: TableFacts) -> bool:
    """True if the connector is to set REPLICA IDENTITY FULL on this table."""
    return (
        source.replica_identity_full
        and facts.replica_identity != "f"
        and bool(toastable_columns(facts))
    )


def toastable_columns(facts: TableFacts) -> list[str]:
    """Columns whose values may be stored out of line (and then left out of UPDATEs)."""
    return [c for c, s in zip(facts.columns, facts.storage, strict=True) if s in "xe"]


def _toast_findings(facts: TableFacts, fixed: bool) -> list[Finding]:
    toastable = toastable_columns(facts)
    if facts.replica_identity == "f" or not toastable or fixed:
        return []
    return [
        Finding(
            Severity.WARNING, str(facts.table),
            f"columns {toastable} may hold TOASTed values; an UPDATE that leaves such a large "
            "value unchanged does not send it, and the connector stops rather than publish a "
            "row without it",
            f"ALTER TABLE {_quoted(facts.table)} REPLICA IDENTITY FULL, or set "
            "replica_identity_full: true",
        )
    ]  # fmt: skip


def _column_findings(facts: TableFacts, named: Sequence[str]) -> list[Finding]:
    unknown = sorted(set(named) - set(facts.columns))
    if not unknown:
        return []
    return [
        Finding(
            Severity.ERROR, str(facts.table), f"overrides name unknown columns {unknown}",
            f"use columns of the table: {', '.join(facts.columns)}",
        )
    ]  # fmt: skip


def _type_findings(facts: TableFacts) -> list[Finding]:
    fallback = [
        f"{c} ({t}, a {_TEXT_FALLBACK[k]})"
        for c, k, t in zip(facts.columns, facts.type_kinds, facts.type_names, strict=True)
        if k in _TEXT_FALLBACK
    ]
    if not fallback:
        return []
    return [
        Finding(
            Severity.WARNING, str(facts.table),
            f"columns {fallback} have no Avro mapping and are published as their text form",
            "exclude them (overrides.<table>.exclude_columns) if consumers cannot parse the text",
        )
    ]  # fmt: skip


def _publication_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s", (name,))
    return row.fetchone() is not None


def _quoted(table: TableId) -> str:
    return '"' + table.schema.replace('"', '""') + '"."' + table.name.replace('"', '""') + '"'
