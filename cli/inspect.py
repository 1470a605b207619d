"""What ``strangler init`` learns of a database: its tables, their keys, their sizes.

The connectors' own catalog code answers (the PostgreSQL preflight's table facts, the MySQL
catalog's primary keys), so ``init`` sees a table exactly as the connector will; only the row
estimates are read here (``pg_class.reltuples``, ``information_schema.TABLES.TABLE_ROWS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from strangler.core.errors import ConfigError
from strangler.core.events import TableId

Engine = Literal["postgres", "mysql"]
CONNECT_TIMEOUT_S = 3
_SCHEMES: dict[str, Engine] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_MYSQL_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")


@dataclass(frozen=True, slots=True)
class TableInfo:
    table: TableId
    key: tuple[str, ...]
    """Primary key columns (empty: the table has none)."""
    rows: int | None
    """The server's row estimate (None: never analyzed)."""


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A database URL taken apart; the password is kept out of everything printed."""

    engine: Engine
    url: str
    user: str
    password: str
    host: str
    port: int
    database: str

    def with_password(self, replacement: str) -> str:
        """The URL with its password replaced (``${VAR}``), or without one if it had none."""
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        secret = f":{replacement}" if self.password else ""
        netloc = f"{user}{secret}@{host}" if user else host
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str) -> DatabaseUrl:
    """``postgresql://`` or ``mysql://`` (``mariadb://``) URL; anything else is a ConfigError."""
    parts = urlsplit(url)
    engine = _SCHEMES.get(parts.scheme.lower())
    if engine is None or not parts.hostname:
        raise ConfigError(
            f"{_redacted(url)!r} is not a database URL strangler can inspect",
            fix="give postgresql://user:password@host:5432/database or "
            "mysql://user:password@host:3306/database",
        )
    return DatabaseUrl(
        engine=engine,
        url=url,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=parts.hostname,
        port=parts.port or (5432 if engine == "postgres" else 3306),
        database=unquote(parts.path.lstrip("/")),
    )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def inspect_database(db: DatabaseUrl) -> list[TableInfo]:
    """The database's tables with keys and row estimates, sorted by name; a view's own
    bookkeeping tables (when a view lives in this database) are left out."""
    from strangler.core.bookkeeping import is_bookkeeping

    tables = _inspect_postgres(db) if db.engine == "postgres" else _inspect_mysql(db)
    return sorted((t for t in tables if not is_bookkeeping(t.table.name)), key=lambda t: t.table)


_ESTIMATES = "SELECT oid, reltuples::bigint FROM pg_catalog.pg_class WHERE oid = ANY(%s)"


def _inspect_postgres(db: DatabaseUrl) -> list[TableInfo]:
    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.preflight import list_tables

    with connect(db.url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        facts = list_tables(conn)
        oids = [f.oid for f in facts.values()]
        estimates = dict(conn.execute(_ESTIMATES, (oids,)).fetchall())
    return [
        TableInfo(f.table, f.primary_key, _estimate(estimates.get(f.oid))) for f in facts.values()
    ]


def _estimate(value: Any) -> int | None:
    return None if value is None or int(value) < 0 else int(value)


def _inspect_mysql(db: DatabaseUrl) -> list[TableInfo]:
    from strangler.connectors.mysql.catalog import load_primary_key
    from strangler.connectors.mysql.connector import connect_server

    settings = {"host": db.host, "port": db.port, "user": db.user, "password": db.password}
    conn = connect_server(settings, timeout=CONNECT_TIMEOUT_S)
    try:
        found = _mysql_tables(conn, db.database)
        return [TableInfo(t, tuple(load_primary_key(conn, t)), rows) for t, rows in found]
    finally:
        conn.close()


def _mysql_tables(conn: Any, database: str) -> list[tuple[TableId, int | None]]:
    marks = ", ".join(["%s"] * len(_MYSQL_SYSTEM))
    where, args = f"TABLE_SCHEMA NOT IN ({marks})", list(_MYSQL_SYSTEM)
    if database:
        where, args = "TABLE_SCHEMA = %s", [database]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
            f"WHERE TABLE_TYPE = 'BASE TABLE' AND {where}",
            args,
        )
        return [(TableId(_text(s), _text(n)), _estimate(r)) for s, n, r in cur.fetchall()]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
