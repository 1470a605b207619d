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

The snapshotter's hot path (``ChunkEncoder``): a chunk's rows go straight from the result's row
packets to the Avro records of the published schema (``native.text_encoder``'s C encoder reads
the packets off the connection's socket, ``_read_encoded``), without pymysql's per-packet Python
or any row dict; the rows it declines go through ``from_text`` and the serializer, which write
them or raise their clear errors. A table whose columns the C code does not encode keeps the
Python path (converted rows, ``Publisher.publish_reads``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pymysql
import pymysql.converters
import pymysql.cursors
from pymysql.constants import CLIENT, CR
from pymysql.err import InternalError, OperationalError
from pymysql.protocol import MysqlPacket

from strangler.connectors.mysql.catalog import describe_table, quote_ident, quote_table
from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.native import text_decoder, text_encoder
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition, parse_gtids
from strangler.connectors.mysql.rows import TableCodec
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.serialization import TableSerializer
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.schema import TableSchema

if TYPE_CHECKING:
    from strangler.connectors.mysql._snapshot import TextEncoder

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
    records: Records | None = None
    """The rows as the records of the published schema (read with a ``ChunkEncoder`` that
    took them); ``rows`` is then empty."""

    @property
    def size(self) -> int:
        """How many rows the chunk has."""
        return len(self.records.keys) if self.records is not None else len(self.rows)

    @property
    def events(self) -> list[ChangeEvent]:
        """The rows as snapshot-read events (the snapshotter publishes the rows themselves)."""
        return [self._event(row) for row in self.rows]

    def _event(self, row: dict[str, Any]) -> ChangeEvent:
        key = {k: row[k] for k in self.key} if self.key else None
        return ChangeEvent(self.table, Op.READ, key, None, row, self.position)


@dataclass(frozen=True, slots=True)
class Records:
    """A chunk's Confluent-framed Avro records, row by row."""

    keys: list[bytes]
    values: list[bytes | None]

    def __iter__(self) -> Iterator[tuple[bytes, bytes | None]]:
        return zip(self.keys, self.values, strict=True)


class ChunkEncoder:
    """Encodes a table's chunks as the records ``Publisher.publish_reads`` writes for them
    (``schema``: the published one, keyed by its key, excluded columns left out): natively
    where ``native.text_encoder`` plans the result's fields, the declined rows through
    ``from_text`` and the serializer."""

    def __init__(
        self, codec: TableCodec, schema: TableSchema, serializer: TableSerializer, topic: str
    ) -> None:
        self.codec = codec
        self._schema = schema
        self._serializer = serializer
        self._topic = topic
        self._plans: dict[tuple[str | None, ...], TextEncoder | None] = {}

    def native(self, encodings: Sequence[str | None]) -> TextEncoder | None:
        """The C encoder of a result whose fields pymysql decodes with ``encodings``; None
        when the C code does not take them all."""
        fields = tuple(encodings)
        if fields not in self._plans:
            plan = None
            if isinstance(self._serializer, FastTableSerializer):
                ids = self._serializer.schema_ids(self._topic, self._schema)
                codec = self.codec
                plan = text_encoder(codec.columns, codec.types, fields, self._schema, ids)
            self._plans[fields] = plan
        return self._plans[fields]

    def python(self, values: Sequence[Any]) -> tuple[bytes, bytes | None]:
        """A row as pymysql parses it (text, bytes) to its records, the Python way."""
        row = self.codec.from_text(values)
        topic, schema = self._topic, self._schema
        return self._serializer.key(topic, schema, row), self._serializer.value(topic, schema, row)


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

    def read(
        self,
        codec: TableCodec,
        after: Sequence[Any] | None = None,
        encoder: ChunkEncoder | None = None,
    ) -> Iterator[Chunk]:
        """The table's rows as snapshot-read events, chunk by chunk, from after key ``after``;
        with an ``encoder`` (of ``codec``), chunks it takes come as records."""
        key = list(codec.key)
        if not key:
            yield from self._unkeyed(codec)
            return
        last = tuple(after) if after is not None else None
        while True:
            rows, records, last_row = self._select(codec, key, last, self.chunk_rows, encoder)
            if last_row is None:
                return
            assert self.position is not None
            last = _key_params(codec, last_row)
            chunk = Chunk(codec.schema.table, rows, last, self.position, codec.key, records)
            yield chunk
            if chunk.size < self.chunk_rows:
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
        self,
        codec: TableCodec,
        key: list[str],
        after: tuple[Any, ...] | None,
        limit: int | None,
        encoder: ChunkEncoder | None = None,
    ) -> tuple[list[dict[str, Any]], Records | None, tuple[Any, ...] | None]:
        """The chunk's rows, converted, or its records (``encoder``: when it takes the
        result), and its last row as pymysql reads it (None: no row)."""
        query, args = select_sql(codec, key, after, limit)
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            if encoder is not None:
                encoded = _fetch_encoded(cur, encoder)
                if encoded is not None:
                    return [], *encoded
            rows, last_row = _fetch_converted(cur, codec)
            return rows, None, last_row


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


def _fetch_encoded(
    cur: Any, encoder: ChunkEncoder
) -> tuple[Records, tuple[Any, ...] | None] | None:
    """A query's rows as records, natively where ``encoder`` takes the result's fields (None
    where it does not: nothing is read then). The row packets are read off the connection's
    socket and split by the C code (``_read_encoded``), instead of by pymysql one at a time;
    the rows it declines are parsed by pymysql and encoded the Python way."""
    result = cur._result
    fields = getattr(result, "converters", None) or []
    encodings = [encoding for encoding, converter in fields if converter is None]
    native = encoder.native(encodings) if len(encodings) == len(fields) else None
    if native is None or not result.unbuffered_active or not _wire_readable(cur.connection):
        return None
    keys, values, declined, last_packet = _read_encoded(result, native)
    parse = result._read_row_from_packet
    charset = cur.connection.encoding
    for index, payload in declined:
        keys[index], values[index] = encoder.python(parse(MysqlPacket(payload, charset)))
    last = None if last_packet is None else tuple(parse(MysqlPacket(last_packet, charset)))
    return Records(keys, values), last  # type: ignore[arg-type]  # no None left in keys


_READ = 1 << 16
_PYMYSQL_STATE = ("_rfile", "_sock", "_next_seq_id", "_read_timeout", "_current_timeout")


def _wire_readable(conn: Any) -> bool:
    """True where ``_read_encoded`` can take over reading the result: the connection has the
    pymysql state it uses (2.x), and results end with an EOF packet (a client that negotiated
    CLIENT_DEPRECATE_EOF gets an OK packet there instead, which ``feed`` does not read)."""
    flags = int(getattr(conn, "client_flag", 0))
    return not flags & CLIENT.DEPRECATE_EOF and all(hasattr(conn, a) for a in _PYMYSQL_STATE)


def _read_encoded(
    result: Any, native: TextEncoder
) -> tuple[list[bytes | None], list[bytes | None], list[tuple[int, bytes]], bytes | None]:
    """Every row of pymysql's unbuffered ``result`` (its field descriptions read) encoded by
    ``native``: what ``_read_rowdata_packet_unbuffered`` does row by row, packet checks and
    errors included, with the packets split in C from the socket's bytes. Returns the records
    (None for declined rows), the declined rows' (index, packet) and the last row's packet."""
    conn = result.connection
    rfile = conn._rfile
    if conn._current_timeout != conn._read_timeout:  # as Connection._read_packet
        conn._sock.settimeout(conn._read_timeout)
        conn._current_timeout = conn._read_timeout
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    declined: list[tuple[int, bytes]] = []
    seq, last, buffer = conn._next_seq_id, None, bytearray()
    while True:
        try:
            data = rfile.read1(max(_READ, len(buffer)))
        except OSError as exc:
            raise _broken(result, OperationalError(CR.CR_SERVER_LOST, f"{_LOST} ({exc})")) from exc
        if not data:
            raise _broken(result, OperationalError(CR.CR_SERVER_LOST, _LOST))
        buffer += data
        used, seq, status, packet, row = native.feed(buffer, seq, keys, values, declined)
        last = row if row is not None else last
        if status == _MORE:
            del buffer[:used]
            continue
        conn._next_seq_id = seq
        if status == _SEQUENCE:
            got = buffer[used + 3]  # 0: MariaDB's error packet at shutdown
            wrong = f"Packet sequence number wrong - got {got} expected {seq}"
            error = OperationalError(CR.CR_SERVER_LOST, _LOST) if got == 0 else InternalError(wrong)
            raise _broken(result, error)
        if status == _ERROR:
            result.unbuffered_active = False
            MysqlPacket(packet, conn.encoding).raise_for_error()
        if used != len(buffer):  # nothing follows a single result's EOF packet
            raise _broken(result, InternalError("data after the end of a result"))
        result._check_packet_is_eof(MysqlPacket(packet, conn.encoding))
        result.unbuffered_active = False
        result.connection = None
        result.rows = None
        return keys, values, declined, last


_LOST = "Lost connection to MySQL server during query"


def _broken(result: Any, error: Exception) -> Exception:
    """``error``, once the connection is closed (as pymysql does): the result is over."""
    result.unbuffered_active = False
    result.connection._force_close()
    return error


_MORE, _END, _ERROR, _SEQUENCE = range(4)
"""``TextEncoder.feed``'s statuses."""


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
