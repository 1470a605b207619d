"""The initial snapshot: every table read in one consistent-read transaction opened at a known
binlog position, so that streaming from that position neither misses nor repeats a change.

How the position is tied to the snapshot (``LockMode``):

- ``NONE`` (MariaDB, the default there): ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` makes
  MariaDB report, in the status variables ``binlog_snapshot_file`` / ``binlog_snapshot_position``,
  the binlog offset exactly matching the snapshot, and ``BINLOG_GTID_POS(file, pos)`` turns it
  into the GTID position. No lock at all, and no privilege beyond SELECT and BINLOG MONITOR.
- ``GLOBAL`` (MySQL, the default there; also possible on MariaDB): ``FLUSH TABLES WITH READ
  LOCK`` stops commits, the consistent snapshot starts, ``@@gtid_executed`` / ``SHOW MASTER
  STATUS`` are read, and ``UNLOCK TABLES`` follows at once: writes wait only for those three
  statements. Needs the RELOAD privilege; where it is not granted on MySQL there is no exact
  lock-free way, and the snapshot refuses rather than guess.

Tables are read in primary-key order, ``chunk_rows`` rows per query, by keyset pagination
(``WHERE k > last ORDER BY k LIMIT n``, the row comparison spelled out as ``k1 > a OR (k1 = a AND
k2 > b)`` so every server uses the index range). Rows come back as text (bytes for binary
columns) and are converted by the same ``TableCodec`` types as the stream. A chunk carries its
last key, so a coordinator can resume a table after the last chunk it published. A table
without a primary key is read in one pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pymysql
import pymysql.converters
import pymysql.cursors

from strangler.connectors.mysql.catalog import describe_table, quote_ident, quote_table
from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.native import text_decoder
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition, parse_gtids
from strangler.connectors.mysql.rows import TableCodec
from strangler.core.events import ChangeEvent, Op, TableId

_ENCODERS: dict[Any, Any] = {
    k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
}
"""pymysql's parameter encoders without its result decoders: results stay text (or bytes)."""

_INTEGERS = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}


class LockMode(StrEnum):
    NONE = "none"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Chunk:
    table: TableId
    rows: list[dict[str, Any]]
    """The rows, converted by the table's codec (column name → value)."""
    last_key: tuple[Any, ...] | None
    """The last row's key as query parameters: pass it back as ``after`` to resume."""
    position: BinlogPosition
    key: tuple[str, ...]
    """The table's key columns (empty: no key)."""

    @property
    def events(self) -> list[ChangeEvent]:
        """The rows as snapshot-read events (the snapshotter publishes the rows themselves)."""
        return [self._event(row) for row in self.rows]

    def _event(self, row: dict[str, Any]) -> ChangeEvent:
        key = {k: row[k] for k in self.key} if self.key else None
        return ChangeEvent(self.table, Op.READ, key, None, row, self.position)


def snapshot_connection(settings: Mapping[str, Any]) -> pymysql.Connection[Any]:
    """A connection whose results are text, in UTC (TIMESTAMP columns), utf8mb4."""
    conn = pymysql.connect(
        **dict(settings), conv=_ENCODERS, charset="utf8mb4", autocommit=True,
        cursorclass=pymysql.cursors.SSCursor,
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
    return conn


def _is_mariadb(conn: pymysql.Connection[Any]) -> bool:
    (version,) = _one(conn, "SELECT VERSION()")
    return "mariadb" in _text(version).lower()


def _one(conn: pymysql.Connection[Any], query: str, args: Any = None) -> tuple[Any, ...]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
        cur.fetchall()
    if row is None:
        raise MysqlError(f"{query!r} returned no row")
    return tuple(row)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SnapshotReader:
    """Reads tables in one consistent snapshot; ``position`` is where streaming continues.

    Use as a context manager: entering opens the snapshot (see the module docstring), leaving
    ends it."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        chunk_rows: int = 10_000,
        lock: LockMode | None = None,
    ) -> None:
        self._settings = settings
        self.chunk_rows = chunk_rows
        self._lock = lock
        self._conn: pymysql.Connection[Any] | None = None
        self.position: BinlogPosition | None = None

    @property
    def conn(self) -> pymysql.Connection[Any]:
        if self._conn is None:
            raise MysqlError("the snapshot is not open; use SnapshotReader as a context manager")
        return self._conn

    def __enter__(self) -> SnapshotReader:
        self._conn = snapshot_connection(self._settings)
        mariadb = _is_mariadb(self._conn)
        lock = self._lock or (LockMode.NONE if mariadb else LockMode.GLOBAL)
        if lock is LockMode.NONE and not mariadb:
            raise MysqlError(
                "a lock-free snapshot position is exact only on MariaDB",
                fix="use lock mode 'global' (needs the RELOAD privilege)",
            )
        self.position = self._open_global() if lock is LockMode.GLOBAL else self._open_mariadb()
        return self

    def _open_mariadb(self) -> BinlogPosition:
        self._exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        with self.conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {_text(k).lower(): _text(v) for k, v in cur.fetchall()}
        file = FilePosition(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))
        (gtids,) = _one(self.conn, "SELECT BINLOG_GTID_POS(%s, %s)", (file.file, file.pos))
        return BinlogPosition(parse_gtids(_text(gtids or "")), file)

    def _open_global(self) -> BinlogPosition:
        self._exec("FLUSH TABLES WITH READ LOCK")
        try:
            self._exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            master = _one(self.conn, "SHOW MASTER STATUS")
            gtid_var = "@@gtid_binlog_pos" if _is_mariadb(self.conn) else "@@gtid_executed"
            (gtids,) = _one(self.conn, f"SELECT {gtid_var}")
        finally:
            self._exec("UNLOCK TABLES")
        file = FilePosition(_text(master[0]), int(_text(master[1])))
        return BinlogPosition(parse_gtids(_text(gtids or "")), file)

    def _exec(self, statement: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(statement)

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            self._conn.rollback()
            self._conn.close()
            self._conn = None

    def describe(self, table: TableId, key: list[str] | None = None) -> TableCodec:
        """The table's codec as of the snapshot (``key`` overrides the primary key: it must
        be unique and NOT NULL, as a primary key is)."""
        return describe_table(self.conn, table, key)

    def read(self, codec: TableCodec, after: Sequence[Any] | None = None) -> Iterator[Chunk]:
        """The table's rows as snapshot-read events, chunk by chunk, from after key ``after``."""
        key = list(codec.key)
        if not key:
            yield from self._unkeyed(codec)
            return
        last = tuple(after) if after is not None else None
        while True:
            rows, last_row = self._select(codec, key, last, self.chunk_rows)
            if last_row is None:
                return
            assert self.position is not None
            last = _key_params(codec, last_row)
            yield Chunk(codec.schema.table, rows, last, self.position, codec.key)
            if len(rows) < self.chunk_rows:
                return

    def _unkeyed(self, codec: TableCodec) -> Iterator[Chunk]:
        # one unbuffered query, cut into chunks as it is read: memory stays bounded, but the
        # table cannot be resumed part-way (there is no key to resume after)
        query, args = select_sql(codec, [], None, None)
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            while rows := [tuple(row) for row in cur.fetchmany(self.chunk_rows)]:
                yield self._chunk(codec, rows)

    def _chunk(self, codec: TableCodec, rows: list[tuple[Any, ...]]) -> Chunk:
        assert self.position is not None
        converted = codec.from_text_rows(rows)
        last = _key_params(codec, rows[-1]) if rows else None
        return Chunk(codec.schema.table, converted, last, self.position, codec.key)

    def _select(
        self, codec: TableCodec, key: list[str], after: tuple[Any, ...] | None, limit: int | None
    ) -> tuple[list[dict[str, Any]], tuple[Any, ...] | None]:
        """The chunk's rows, converted, and its last row as pymysql reads it (None: no row)."""
        query, args = select_sql(codec, key, after, limit)
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return _fetch_converted(cur, codec)


def _fetch_converted(
    cur: Any, codec: TableCodec
) -> tuple[list[dict[str, Any]], tuple[Any, ...] | None]:
    """A query's rows converted by ``codec``: natively from the row packets where the C code
    can (pymysql still reads the packets; its pure-Python parsing of each row is skipped),
    otherwise pymysql's rows through ``from_text``. Uses pymysql's unbuffered result: its
    fields' encodings (``converters``) and its per-row parsing method, replaced for this
    result only. A row the C code raises on is converted the Python way, which raises its own
    error (naming the column) or gives the value."""
    result = cur._result
    fields = getattr(result, "converters", None) or []
    encodings = [encoding for encoding, converter in fields if converter is None]
    native = text_decoder(codec.columns, codec.types, encodings)
    if native is None or len(encodings) != len(fields):
        raw = [tuple(row) for row in cur.fetchall()]
        return codec.from_text_rows(raw), (raw[-1] if raw else None)
    parse = result._read_row_from_packet
    last: list[Any] = []

    def decode(packet: Any) -> dict[str, Any]:
        last[:] = [packet]
        try:
            return native.decode(packet.get_all_data())
        except Exception:  # noqa: BLE001 - not swallowed: the Python path raises it again
            packet.rewind()
            return codec.from_text(parse(packet))

    result._read_row_from_packet = decode
    rows: list[dict[str, Any]] = list(cur.fetchall())
    if not last:
        return rows, None
    last[0].rewind()
    return rows, tuple(parse(last[0]))


def _key_params(codec: TableCodec, values: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if not codec.key:
        return None
    by_name = {c.name: (c, v) for c, v in zip(codec.columns, values, strict=True)}
    return tuple(_param(*by_name[name]) for name in codec.key)


def _param(column: Any, raw: Any) -> Any:
    # Key values go back into the next query as typed parameters: a number compared with a
    # string literal is compared as a double (wrong for large BIGINTs, and not an index range)
    if column.data_type in _INTEGERS:
        return int(raw)
    if column.data_type in ("decimal", "numeric"):
        return Decimal(_text(raw))
    return raw


def select_sql(
    codec: TableCodec, key: list[str], after: tuple[Any, ...] | None, limit: int | None
) -> tuple[str, list[Any]]:
    """The chunk query and its parameters."""
    columns = ", ".join(quote_ident(c.name) for c in codec.columns)
    query = f"SELECT {columns} FROM {quote_table(codec.schema.table)}"
    args: list[Any] = []
    if after is not None:
        condition, args = _after(key, after)
        query += f" WHERE {condition}"
    if key:
        query += " ORDER BY " + ", ".join(quote_ident(k) for k in key)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query, args


def _after(key: list[str], values: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """``(k1, k2) > (a, b)`` as ``k1 > a OR (k1 = a AND k2 > b)``."""
    terms, args = [], []
    for i, name in enumerate(key):
        equal = [f"{quote_ident(k)} = %s" for k in key[:i]]
        terms.append("(" + " AND ".join([*equal, f"{quote_ident(name)} > %s"]) + ")")
        args.extend([*values[:i], values[i]])
    return " OR ".join(terms), args
