"""Checks a MySQL/MariaDB server before CDC starts; every finding comes with its fix.

``preflight`` runs every check and returns all findings (it does not stop at the first), so an
operator fixes the server once. A finding with ``fatal=True`` means the connector cannot work
correctly as configured; ``fatal=False`` ones are advice (positions less robust, for example).

The retention check compares a stored position with what the server still has: MariaDB's
``BINLOG_GTID_POS(<oldest binlog>, 4)`` is the GTID state before the oldest binlog's first
event; a stored GTID older than that was in a purged file. MySQL's ``@@gtid_purged`` must be
contained in the stored set. A file:pos position needs its file to be listed by
``SHOW BINARY LOGS``. Either way the only remedy is a new snapshot, and the finding says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql

from strangler.connectors.mysql.catalog import load_primary_key
from strangler.connectors.mysql.positions import (
    BinlogPosition,
    MariadbGtidPos,
    MysqlGtidSet,
)
from strangler.core.events import TableId

RESNAPSHOT = (
    "take a new snapshot: clear the stored position and start with snapshot mode 'initial'; "
    "then keep binlogs longer than the longest expected outage (MariaDB: binlog_expire_logs_"
    "seconds, MySQL: binlog_expire_logs_seconds)"
)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    message: str
    fix: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}\n  fix: {self.fix}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _variables(conn: pymysql.Connection[Any]) -> dict[str, str]:
    names = (
        "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "server_id",
        "gtid_mode", "gtid_strict_mode", "version", "gtid_binlog_pos", "gtid_purged",
    )  # fmt: skip
    marks = ", ".join(["%s"] * len(names))
    with conn.cursor() as cur:
        cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({marks})", names)
        return {_text(k).lower(): _text(v) for k, v in cur.fetchall()}


def _setting(variables: dict[str, str], name: str, wanted: str, why: str) -> list[Finding]:
    value = variables.get(name)
    if value is not None and value.upper() == wanted:
        return []
    shown = "not supported by this server version" if value is None else f"is {value}"
    return [
        Finding(
            name,
            f"{name} {shown}; it must be {wanted} ({why})",
            f"set {name}={wanted} in the server's option file ([mariadbd] or [mysqld]) and "
            f"restart, or SET GLOBAL {name}='{wanted}' (sessions already open keep the old "
            "value until they reconnect)",
        )
    ]


def check_binlog(variables: dict[str, str]) -> list[Finding]:
    if variables.get("log_bin", "OFF").upper() not in ("ON", "1"):
        return [
            Finding(
                "log_bin",
                "the binary log is disabled; there is nothing to stream",
                "add log_bin=<basename> (and a server_id) to the server's option file, restart",
            )
        ]
    return [
        *_setting(variables, "binlog_format", "ROW", "row events carry the changed rows"),
        *_setting(variables, "binlog_row_image", "FULL", "updates and deletes need whole rows"),
        *_setting(
            variables,
            "binlog_row_metadata",
            "FULL",
            "without it column names are lost and rows cannot be decoded by name",
        ),
    ]


def check_server_id(
    server_id: int, variables: dict[str, str], replicas: Iterable[int]
) -> list[Finding]:
    taken = {int(variables.get("server_id", "0")), *replicas}
    if 1 <= server_id < 2**32 and server_id not in taken:
        return []
    return [
        Finding(
            "server_id",
            f"reader server id {server_id} is not unique (server and replicas use "
            f"{sorted(taken)}); the server drops one of two readers with the same id",
            "configure a server id between 1 and 4294967295 that no server or replica uses",
        )
    ]


def check_grants(grants: Iterable[str]) -> list[Finding]:
    global_grants = " ".join(g.upper() for g in grants if " ON *.* " in g.upper())
    if "ALL PRIVILEGES" in global_grants:
        return []
    missing = [p for p in ("REPLICATION SLAVE",) if p not in global_grants]
    if "REPLICATION CLIENT" not in global_grants and "BINLOG MONITOR" not in global_grants:
        missing.append("REPLICATION CLIENT (BINLOG MONITOR on MariaDB)")
    if not missing:
        return []
    return [
        Finding(
            "privileges",
            f"the connector's user lacks {', '.join(missing)} on *.*",
            "GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <user> "
            "(MariaDB 10.5+: BINLOG MONITOR instead of REPLICATION CLIENT)",
        )
    ]


def check_gtid_mode(variables: dict[str, str], mariadb: bool) -> list[Finding]:
    if mariadb:
        if variables.get("gtid_strict_mode", "OFF").upper() in ("ON", "1"):
            return []
        return [
            Finding(
                "gtid_strict_mode",
                "gtid_strict_mode is OFF: GTID sequence numbers may go back within a domain, "
                "so a stored GTID position may not mean a single point",
                "SET GLOBAL gtid_strict_mode=ON and add gtid_strict_mode=ON to the option file",
                fatal=False,
            )
        ]
    if variables.get("gtid_mode", "OFF").upper() == "ON":
        return []
    return [
        Finding(
            "gtid_mode",
            "gtid_mode is not ON: positions will be file:pos, which do not survive a failover",
            "enable GTIDs (gtid_mode=ON, enforce_gtid_consistency=ON) following MySQL's "
            "online procedure",
            fatal=False,
        )
    ]


def check_keys(tables_without_key: Iterable[TableId]) -> list[Finding]:
    return [
        Finding(
            "primary_key",
            f"table {table} has no primary key: its topic has no key to compact on, and its "
            "snapshot cannot be read in chunks",
            f"add a primary key to {table}, or configure key columns for it (unique, NOT NULL)",
        )
        for table in tables_without_key
    ]


def check_retention_mariadb(
    stored: MariadbGtidPos, oldest: MariadbGtidPos, current: MariadbGtidPos
) -> list[Finding]:
    """``oldest``: the GTID state before the oldest binlog; ``current``: @@gtid_binlog_pos."""
    purged = [g for g in stored.gtids if g.seq < oldest.seq(g.domain)]
    ahead = [g for g in stored.gtids if g.seq > current.seq(g.domain)]
    findings = []
    if purged:
        findings.append(
            Finding(
                "binlog_retention",
                f"the stored position {stored} is older than the oldest binlog the server "
                f"still has (it starts after {oldest}): changes were purged unread and "
                "streaming cannot resume. A new snapshot is needed.",
                RESNAPSHOT,
            )
        )
    if ahead:
        findings.append(
            Finding(
                "binlog_retention",
                f"the stored position {stored} is ahead of the server ({current}): it comes "
                "from another server, or this server's binlog was reset",
                RESNAPSHOT,
            )
        )
    return findings


def check_retention_mysql(stored: MysqlGtidSet, purged: MysqlGtidSet) -> list[Finding]:
    if purged <= stored:
        return []
    return [
        Finding(
            "binlog_retention",
            f"the server purged transactions ({purged}) not in the stored position ({stored}): "
            "they can no longer be streamed. A new snapshot is needed.",
            RESNAPSHOT,
        )
    ]


def check_retention_file(stored: BinlogPosition, files: Sequence[str]) -> list[Finding]:
    if stored.file is None or stored.file.file in files:
        return []
    return [
        Finding(
            "binlog_retention",
            f"the stored position's binlog file {stored.file.file} is gone (the server has "
            f"{files[0] if files else 'no binlogs'} … {files[-1] if files else ''}). "
            "A new snapshot is needed.",
            RESNAPSHOT,
        )
    ]


def _rows(conn: pymysql.Connection[Any], query: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return [tuple(row) for row in cur.fetchall()]


def _replica_ids(conn: pymysql.Connection[Any]) -> list[int]:
    # SHOW SLAVE HOSTS lists replicas that registered (report_host set): Server_id first.
    # MariaDB 10.5+ wants REPLICATION MASTER ADMIN for it; a user without it cannot see the
    # replicas' ids (check_grants reports the privileges a binlog reader does need)
    try:
        return [int(_text(row[0])) for row in _rows(conn, "SHOW SLAVE HOSTS")]
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] in (1227, 1045):  # access denied: privilege missing
            return []
        raise


def _retention(
    conn: pymysql.Connection[Any], stored: BinlogPosition, variables: dict[str, str]
) -> list[Finding]:
    files = [_text(row[0]) for row in _rows(conn, "SHOW BINARY LOGS")]
    if isinstance(stored.gtids, MariadbGtidPos) and files:
        (oldest,) = _rows(conn, "SELECT BINLOG_GTID_POS(%s, 4)", (files[0],))[0]
        current = MariadbGtidPos.parse(variables.get("gtid_binlog_pos", ""))
        before_oldest = MariadbGtidPos.parse(_text(oldest or ""))
        return check_retention_mariadb(stored.gtids, before_oldest, current)
    if isinstance(stored.gtids, MysqlGtidSet):
        purged = MysqlGtidSet.parse(variables.get("gtid_purged", ""))
        return check_retention_mysql(stored.gtids, purged)
    return check_retention_file(stored, files)


def preflight(
    conn: pymysql.Connection[Any],
    *,
    server_id: int,
    tables: Sequence[TableId] = (),
    stored: BinlogPosition | None = None,
) -> list[Finding]:
    """Every finding for streaming ``tables`` with reader ``server_id`` from ``stored``."""
    variables = _variables(conn)
    mariadb = "mariadb" in variables.get("version", "").lower()
    grants = [_text(row[0]) for row in _rows(conn, "SHOW GRANTS FOR CURRENT_USER()")]
    findings = [
        *check_binlog(variables),
        *check_server_id(server_id, variables, _replica_ids(conn)),
        *check_grants(grants),
        *check_gtid_mode(variables, mariadb),
        *check_keys(t for t in tables if not load_primary_key(conn, t)),
    ]
    if stored is not None and not any(f.check in ("log_bin", "privileges") for f in findings):
        findings.extend(_retention(conn, stored, variables))
    return findings
