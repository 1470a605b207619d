"""The two sides ``strangler verify`` compares, each read as canonical lines in key order.

A reader gives a table's rows as lines (see ``verify_canon``), in key order, in blocks
(``lines``), and the current lines of given keys (``fetch``, for the re-checks). Readers:

- ``PostgresReader``: a source table or a view's table in PostgreSQL. Rows travel as ``COPY
  (SELECT <canonical expressions> ... ORDER BY key) TO STDOUT``: the server writes the lines
  and Python only splits them, unless a column needs Python (a float, a time, JSON...) or the
  view filters rows. A source's raw columns are then parsed by the connector's own parsers
  (handed in by the caller: this package does not import the connectors); a view's are read
  typed through a server-side cursor.
- ``SqliteReader``: a view's table in a SQLite file (read-only), one SQL expression per line.
- ``MysqlReader``: a MySQL/MariaDB source table through the connector's own text-mode
  connection and codec, one unbuffered query.
- ``PendingReader``: a view table not made yet (empty).

A topic's latest state is read by ``verify_topic.TopicReader``.

A source reader applies the view's row filter with the materializer's own evaluation
(``rowfilter.row_matches``) on the values the connector publishes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from strangler.core.avro import AvroType
from strangler.core.errors import ServiceUnavailable
from strangler.materializers.columns import Dialect
from strangler.materializers.config import Condition, RowFilter, TargetConfig
from strangler.materializers.identifiers import qualified, quote
from strangler.materializers.rowfilter import row_matches
from strangler.materializers.statements import Sql
from strangler.materializers.tables import TableSpec
from strangler.materializers.verify_canon import (
    NULL,
    PG_SESSION,
    canonical_function,
    escape,
    key_param,
    pg_expression,
    pg_order,
    sqlite_expression,
    sqlite_order,
    stored_function,
    text_key,
    unescape,
)

Key = tuple[str, ...]
"""A row's key: the escaped key fields of its line."""

BLOCK_ROWS = 20_000
FETCH_BATCH = 500


class Reader(Protocol):
    """One side of a comparison."""

    label: str

    def count(self) -> int:
        """Rows in the table (before any filter)."""

    def lines(self) -> Iterator[list[str]]:
        """Every row as a line, in key order, in blocks."""

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        """The current lines of these keys (absent keys are left out)."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TableRead:
    """What to read of one table: its columns in line order (key columns first)."""

    schema: str | None
    table: str
    columns: tuple[tuple[str, AvroType], ...]
    """(column name in this database, Avro type)."""
    key_count: int
    row_filter: RowFilter | None = None

    @property
    def key(self) -> tuple[tuple[str, AvroType], ...]:
        return self.columns[: self.key_count]

    def key_params(self, key: Key, dialect: str) -> list[Any]:
        """Query parameters matching ``key`` in a database of ``dialect``."""
        texts = [unescape(field) for field in key]
        return [
            key_param(t, text or "", dialect) for (_, t), text in zip(self.key, texts, strict=True)
        ]

    def filter_columns(self) -> list[str]:
        if self.row_filter is None:
            return []
        conditions: list[Condition] = [*self.row_filter.all, *self.row_filter.any]
        return sorted({c.column for c in conditions})


def line_key(line: str, key_count: int) -> Key:
    return tuple(line.split("\t", key_count)[:key_count])


class _LineBuilder:
    """Rows of a view's values → lines. Values SQL already wrote are canonical text (escaped
    too when ``sql_escaped``); the others are finished here."""

    def __init__(
        self, read: TableRead, finished: Sequence[bool], *, stored: bool, sql_escaped: bool
    ) -> None:
        pick = stored_function if stored else canonical_function
        self._finish: list[Callable[[Any], str | None] | None] = [
            None if done else pick(avro)
            for done, (_, avro) in zip(finished, read.columns, strict=True)
        ]
        self._sql_escaped = sql_escaped

    def line(self, row: Sequence[Any]) -> str:
        out = []
        for value, finish in zip(row, self._finish, strict=True):
            text = value if finish is None or value is None else finish(value)
            if text is None:
                out.append(NULL)
            else:
                out.append(text if finish is None and self._sql_escaped else escape(text))
        return "\t".join(out)


def _lines(builder: _LineBuilder, rows: Sequence[Sequence[Any]]) -> list[str]:
    return [builder.line(r) for r in rows]


Parsers = Mapping[str, Callable[[str], Any]]
"""Source column → parser of its text output into the value the connector publishes."""


class PostgresReader:
    """A table in PostgreSQL: a view's schema, or (given ``parse``) a source table.

    A source is always read through COPY: columns SQL cannot write canonically, and the row
    filter's columns, travel as the server's text output and are parsed by the connector's
    own parsers (``parse``), so they are exactly the values it publishes. A view's columns have
    the plain types the materializer created; its rows are read typed when Python must finish
    them."""

    def __init__(
        self,
        dsn: str,
        read: TableRead,
        label: str,
        *,
        parse: Parsers | None = None,
        session: Mapping[str, str] = PG_SESSION,
    ) -> None:
        import psycopg

        if read.row_filter is not None and parse is None:
            raise ValueError("a filtered read is of a source: give its parsers")
        self.label, self.read, self._parse = label, read, parse
        try:
            self.conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(
                f"{label}: cannot connect to PostgreSQL: {str(exc).strip()}",
                fix="check the DSN and that the server runs",
            ) from exc
        for name, value in {**PG_SESSION, **session}.items():
            self.conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
        self._table = qualified(read.schema, read.table)
        finished = [pg_expression(t, "c") is not None for _, t in read.columns]
        # a source always copies; a view (no filter) copies when SQL writes every column
        self._copy = parse is not None or all(finished)
        self._exprs = [pg_expression(t, quote(n), copy=self._copy) for n, t in read.columns]
        self._builder = _LineBuilder(read, finished, stored=False, sql_escaped=False)
        self._finish = [
            (i, canonical_function(t), parse[n] if parse else str)
            for i, ((n, t), done) in enumerate(zip(read.columns, finished, strict=True))
            if not done
        ]

    def _select(self) -> str:
        cols = [e or quote(n) for e, (n, _) in zip(self._exprs, self.read.columns, strict=True)]
        cols += [quote(n) for n in self.read.filter_columns()]
        return f"SELECT {_aliased(cols)} FROM {self._table}"

    def _order(self) -> str:
        return ", ".join(pg_order(t, quote(n)) for n, t in self.read.key)

    def count(self) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {self._table}".encode()).fetchone()
        return int(row[0]) if row else 0

    def lines(self) -> Iterator[list[str]]:
        query = f"{self._select()} ORDER BY {self._order()}"
        return self._copied(query) if self._copy else self._streamed(query)

    def _copied(self, query: str) -> Iterator[list[str]]:
        for chunk in _copy_out(self.conn, f"COPY ({query}) TO STDOUT".encode()):
            lines = chunk.decode("utf-8").split("\n")
            yield self._finished(lines) if self._finish or self.read.row_filter else lines

    def _finished(self, lines: list[str]) -> list[str]:
        """Lines of COPY text whose raw fields are parsed, filtered and made canonical."""
        assert self._parse is not None  # only sources copy unfinished fields
        width, names = len(self.read.columns), self.read.filter_columns()
        parse, row_filter = self._parse, self.read.row_filter
        out = []
        for line in lines:
            fields = line.split("\t")
            if row_filter is not None:
                texts = [unescape(f) for f in fields[width:]]
                row = {
                    n: None if t is None else parse[n](t) for n, t in zip(names, texts, strict=True)
                }
                if not row_matches(row_filter, row):
                    continue
                del fields[width:]
            for i, canonical, parser in self._finish:
                text = unescape(fields[i])
                value = None if text is None else canonical(parser(text))
                fields[i] = NULL if value is None else escape(value)
            out.append("\t".join(fields))
        return out

    def _streamed(self, query: str) -> Iterator[list[str]]:
        with self.conn.transaction(), self.conn.cursor(name="strangler_verify") as cur:
            cur.itersize = BLOCK_ROWS
            cur.execute(query.encode())
            while rows := cur.fetchmany(BLOCK_ROWS):
                yield _lines(self._builder, rows)

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        from psycopg import sql

        names = [quote(n) for n, _ in self.read.key]
        out: dict[Key, str] = {}
        for start in range(0, len(keys), FETCH_BATCH):
            batch = keys[start : start + FETCH_BATCH]
            tuples = [
                "(" + ", ".join(sql.Literal(p).as_string(None) for p in params) + ")"
                for params in (self.read.key_params(k, "postgres") for k in batch)
            ]
            query = f"{self._select()} WHERE ({', '.join(names)}) IN ({', '.join(tuples)})"
            if self._copy:
                lines = [line for block in self._copied(query) for line in block]
            else:
                lines = _lines(self._builder, self.conn.execute(query.encode()).fetchall())
            out.update(_keyed(lines, len(names)))
        return out

    def close(self) -> None:
        self.conn.close()


def _aliased(expressions: Sequence[str]) -> str:
    """The select list, each output named ``_vN``: ORDER BY "id" must mean the table's column,
    not an output column that an expression like ``"id"::text`` would otherwise be named."""
    return ", ".join(f"{e} AS _v{i}" for i, e in enumerate(expressions))


COPY_CHUNK = 1 << 22
"""Bytes of whole COPY rows handed on at once."""


def _copy_out(conn: Any, query: bytes) -> Iterator[bytes]:
    """The rows of ``COPY ... TO STDOUT`` in chunks of whole rows, without the last newline
    (each block psycopg reads is one CopyData message, which holds one whole row)."""
    with conn.cursor() as cursor, cursor.copy(query) as copy:
        buffer = bytearray()
        for block in copy:
            buffer += block
            if len(buffer) >= COPY_CHUNK:
                yield bytes(buffer[:-1])
                buffer.clear()
        if buffer:
            yield bytes(buffer[:-1])


def _keyed(lines: list[str], key_count: int) -> dict[Key, str]:
    return {line_key(line, key_count): line for line in lines}


_TAB_JOIN = " || '\t' || "
"""SQLite concatenation with a tab (a literal: cheaper than char(9) on every row)."""


class SqliteReader:
    """A view table in a SQLite file, opened read-only."""

    def __init__(self, path: Path, read: TableRead, label: str) -> None:
        if not path.exists():
            raise ServiceUnavailable(
                f"{label}: the view file {path} does not exist",
                fix="run `strangler materialize` (or `run`) for this view first",
            )
        self.label, self.read = label, read
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._table = quote(read.table)
        self._exprs = [sqlite_expression(t, quote(n)) for n, t in read.columns]
        finished = [e is not None for e in self._exprs]
        self._builder = _LineBuilder(read, finished, stored=True, sql_escaped=True)
        self._fast = all(finished)

    def _select(self) -> str:
        if self._fast:
            parts = [f"ifnull({e}, '\\N')" for e in self._exprs]
            return f"SELECT {_TAB_JOIN.join(parts)} FROM {self._table}"
        cols = [e or quote(n) for e, (n, _) in zip(self._exprs, self.read.columns, strict=True)]
        return f"SELECT {_aliased(cols)} FROM {self._table}"

    def count(self) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])

    def _rows(self, query: str, params: Sequence[Any] = ()) -> Iterator[list[str]]:
        cur = self.conn.execute(query, params)
        while rows := cur.fetchmany(BLOCK_ROWS):
            yield [r[0] for r in rows] if self._fast else _lines(self._builder, rows)

    def lines(self) -> Iterator[list[str]]:
        order = ", ".join(sqlite_order(t, quote(n)) for n, t in self.read.key)
        return self._rows(f"{self._select()} ORDER BY {order}")

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        names = [quote(n) for n, _ in self.read.key]
        out: dict[Key, str] = {}
        for start in range(0, len(keys), FETCH_BATCH):
            batch = keys[start : start + FETCH_BATCH]
            params = [p for k in batch for p in self.read.key_params(k, "sqlite")]
            one = "(" + ", ".join("?" * len(names)) + ")"
            where = f"({', '.join(names)}) IN (VALUES {', '.join([one] * len(batch))})"
            for block in self._rows(f"{self._select()} WHERE {where}", params):
                out.update(_keyed(block, len(names)))
        return out

    def close(self) -> None:
        self.conn.close()


Decoder = Callable[[Sequence[Any]], Mapping[str, Any]]
"""A row of every source column (as a text-mode SELECT gives it) → column name → the value the
connector publishes."""


class MysqlReader:
    """A MySQL/MariaDB source table, streamed through an unbuffered cursor of ``conn`` (a
    text-mode connection: the connector's own snapshot connection) and decoded by the
    connector's own codec (``decode`` of every column of ``columns``)."""

    def __init__(
        self, conn: Any, columns: Sequence[str], decode: Decoder, read: TableRead, label: str
    ) -> None:
        self.label, self.read, self.conn = label, read, conn
        self._columns, self._decode = list(columns), decode
        self._table = f"{_backtick(read.schema or '')}.{_backtick(read.table)}"
        self._finish = [(n, canonical_function(t)) for n, t in read.columns]

    def _select(self) -> str:
        return f"SELECT {', '.join(_backtick(c) for c in self._columns)} FROM {self._table}"

    def _lines(self, rows: Sequence[Sequence[Any]]) -> list[str]:
        out = []
        for raw in rows:
            row = self._decode(raw)
            if self.read.row_filter is not None and not row_matches(self.read.row_filter, row):
                continue
            texts = [finish(row.get(name)) for name, finish in self._finish]
            out.append("\t".join(NULL if t is None else escape(t) for t in texts))
        return out

    def count(self) -> int:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self._table}")
            rows = cur.fetchall()
        return int(rows[0][0]) if rows else 0

    def lines(self) -> Iterator[list[str]]:
        order = ", ".join(_mysql_order(t, _backtick(n)) for n, t in self.read.key)
        with self.conn.cursor() as cur:
            cur.execute(f"{self._select()} ORDER BY {order}")
            while rows := cur.fetchmany(BLOCK_ROWS):
                yield self._lines(rows)

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        names = [_backtick(n) for n, _ in self.read.key]
        one = "(" + ", ".join(["%s"] * len(names)) + ")"
        out: dict[Key, str] = {}
        for start in range(0, len(keys), FETCH_BATCH):
            batch = keys[start : start + FETCH_BATCH]
            params = [p for k in batch for p in self.read.key_params(k, "mysql")]
            where = f"({', '.join(names)}) IN ({', '.join([one] * len(batch))})"
            with self.conn.cursor() as cur:
                cur.execute(f"{self._select()} WHERE {where}", params)
                out.update(_keyed(self._lines(cur.fetchall()), len(names)))
        return out

    def close(self) -> None:
        self.conn.close()


def _backtick(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql_order(avro_type: AvroType, column: str) -> str:
    """Text keys byte-wise (MySQL's collations ignore case and accents)."""
    return f"CAST({column} AS BINARY)" if text_key(avro_type) else column


def load_view_specs(target: TargetConfig, view: str) -> dict[str, TableSpec]:
    """The view's tables by topic, as its materializer recorded them (read only)."""
    rows = _sqlite_specs(target.sqlite.path, view) if target.sqlite else _pg_specs(target, view)
    return {topic: TableSpec.from_json(json.loads(spec)) for topic, spec, _mark in rows}


def _sqlite_specs(path: Path, view: str) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(Sql(Dialect.SQLITE).select_tables(), [view]).fetchall()
    except sqlite3.OperationalError:  # no bookkeeping table yet
        return []
    finally:
        conn.close()


def _pg_specs(target: TargetConfig, view: str) -> list[tuple[Any, ...]]:
    import psycopg

    assert target.postgres is not None  # the config model checks exactly one is given
    query = Sql(Dialect.POSTGRES, target.postgres.db_schema, "%s").select_tables()
    try:
        with psycopg.connect(target.postgres.dsn.get_secret_value()) as conn:
            return conn.execute(query.encode(), [view]).fetchall()
    except psycopg.errors.UndefinedTable:
        return []
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"view {view}: cannot connect to PostgreSQL: {exc}") from exc


class PendingReader:
    """A view table the materializer has not created yet (no record of its topic applied so
    far): no rows, until ``reopen`` finds the table during the re-checks."""

    def __init__(self, label: str, reopen: Callable[[], Reader | None]) -> None:
        self.label, self._reopen = label, reopen
        self._table: Reader | None = None

    def count(self) -> int:
        return 0

    def lines(self) -> Iterator[list[str]]:
        return iter(())

    def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        if self._table is None:
            self._table = self._reopen()
        return self._table.fetch(keys) if self._table is not None else {}

    def close(self) -> None:
        if self._table is not None:
            self._table.close()
