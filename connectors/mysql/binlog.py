"""The binlog through python-mysql-replication, as frozen events of our own.

python-mysql-replication is untyped; this is the one module that touches its objects, so no
``Any`` leaks further. Each event comes with the ``FilePosition`` just after it (the offset the
server would resume from).

Protocol facts this relies on (checked against MariaDB 10.11, see the integration tests):

- With ``binlog_row_metadata=FULL`` every TABLE_MAP event carries the column names, signedness,
  charsets, enum/set labels and primary key of the table *as the following row events were
  written*, so rows logged before an ALTER TABLE decode with their own columns. The library
  keeps TABLE_MAPs by table id and clears them on rotate (table ids are reused after a server
  restart); we describe columns from the TABLE_MAP each time one arrives.
- A transaction is GTID … XID (InnoDB), GTID … Query(COMMIT) (non-transactional engines), or a
  single GTID + Query for DDL (MariaDB flags such GTIDs "standalone").
- The decoder returns None for an empty SET, for a zero date, and for NULL; ``none_sources``
  tells them apart, so an empty SET is turned back into an empty set here and a zero date into
  ``ZERO_DATE`` (published as NULL, with the documented warning).
- Resuming: a MariaDB GTID position is the *last applied* GTID per domain and streaming starts
  after it; a MySQL GTID set streams what is not in it; file:pos streams from that offset.
- Row events: the library parses a row event's header and column bitmaps when it reads the
  event, and its rows only when asked (``RowsEvent.rows`` is lazy). ``Rows.image`` is the rest
  of the event, the row images, for the native decoder (``native``); ``Rows.parse`` asks the
  library for its rows instead, for tables the native decoder declines.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.constants.COMMAND import COM_BINLOG_DUMP
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import BINLOG, FIELD_TYPE
from pymysqlreplication.event import (
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import (
    DeleteRowsEvent,
    TableMapEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from strangler.connectors.mysql.errors import StreamError
from strangler.connectors.mysql.native import WireColumn, wire_column
from strangler.connectors.mysql.positions import BinlogPosition, MariadbGtidPos, MysqlGtidSet
from strangler.connectors.mysql.types import ZERO_DATE, SourceColumn
from strangler.core.events import Op, TableId

RawRow = Mapping[str, Any]
RawPairs = tuple[tuple[RawRow | None, RawRow | None], ...]

_MARIADB_FL_STANDALONE = 0x01
"""MariaDB GTID flag: the transaction has no terminating XID/COMMIT (a DDL statement)."""


@dataclass(frozen=True, slots=True)
class TableMap:
    """A table's columns as the next row events were written."""

    table: TableId
    columns: tuple[SourceColumn, ...]
    key: tuple[str, ...]
    wire: tuple[WireColumn, ...] = ()
    """The columns' layout in row events (empty: unknown, no native decoding)."""


@dataclass(frozen=True, slots=True)
class Gtid:
    """Start of a transaction: ``0-1-42`` (MariaDB) or ``uuid:42`` (MySQL)."""

    gtid: str
    standalone: bool
    timestamp: int


@dataclass(frozen=True, slots=True)
class Rows:
    """One row event of ``table_map``'s table."""

    table_map: TableMap
    op: Op
    parse: Callable[[], RawPairs]
    """python-mysql-replication's rows, decoded on demand: (before, after) pairs of column
    name → value; before is None for inserts, after for deletes."""
    image: bytes | memoryview | None = None
    """The event's row images as sent (None: not a full row image, or not available): a view
    of the event's packet, which the library's event keeps anyway (no copy of every image of
    a large transaction)."""


@dataclass(frozen=True, slots=True)
class Query:
    schema: str
    query: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Xid:
    xid: int
    timestamp: int


BinlogEvent = TableMap | Gtid | Rows | Query | Xid

_BY_FIELD_TYPE: dict[int, tuple[str, str]] = {
    FIELD_TYPE.TINY: ("tinyint", "tinyint"),
    FIELD_TYPE.SHORT: ("smallint", "smallint"),
    FIELD_TYPE.INT24: ("mediumint", "mediumint"),
    FIELD_TYPE.LONG: ("int", "int"),
    FIELD_TYPE.LONGLONG: ("bigint", "bigint"),
    FIELD_TYPE.NEWDECIMAL: ("decimal", "decimal"),
    FIELD_TYPE.FLOAT: ("float", "float"),
    FIELD_TYPE.DOUBLE: ("double", "double"),
    FIELD_TYPE.BIT: ("bit", "bit"),
    FIELD_TYPE.STRING: ("char", "binary"),
    FIELD_TYPE.VARCHAR: ("varchar", "varbinary"),
    FIELD_TYPE.VAR_STRING: ("varchar", "varbinary"),
    FIELD_TYPE.BLOB: ("text", "blob"),
    FIELD_TYPE.DATE: ("date", "date"),
    FIELD_TYPE.DATETIME: ("datetime", "datetime"),
    FIELD_TYPE.DATETIME2: ("datetime", "datetime"),
    FIELD_TYPE.TIMESTAMP: ("timestamp", "timestamp"),
    FIELD_TYPE.TIMESTAMP2: ("timestamp", "timestamp"),
    FIELD_TYPE.TIME: ("time", "time"),
    FIELD_TYPE.TIME2: ("time", "time"),
    FIELD_TYPE.YEAR: ("year", "year"),
    FIELD_TYPE.ENUM: ("enum", "enum"),
    FIELD_TYPE.SET: ("set", "set"),
    FIELD_TYPE.JSON: ("json", "json"),
    FIELD_TYPE.GEOMETRY: ("geometry", "geometry"),
}
"""Binlog field type → ``information_schema`` type name (text charset, binary charset)."""

_REFINED = {"binary": {"uuid", "inet6", "inet4"}, "tinyint": {"tinyint", "bool", "boolean"}}
"""Catalog types the binlog cannot tell apart from the base type it reports."""


@dataclass(frozen=True, slots=True)
class TableHints:
    """What the catalog adds to a TABLE_MAP: refined types and the key's order."""

    columns: Mapping[str, SourceColumn]
    key: tuple[str, ...]


def describe_column(column: Any, nullable: bool, hint: SourceColumn | None) -> SourceColumn:
    """A TABLE_MAP column as a ``SourceColumn``, refined by the catalog's column of that name."""
    text_type, binary_type = _BY_FIELD_TYPE.get(column.type, (f"type {column.type}",) * 2)
    binary = getattr(column, "character_set_name", None) == "binary"
    data_type = binary_type if binary else text_type
    width = 0
    if hint is not None and hint.data_type in _REFINED.get(data_type, ()):
        data_type, width = hint.data_type, hint.display_width
    return SourceColumn(
        name=str(column.name),
        data_type=data_type,
        unsigned=bool(column.unsigned),
        nullable=nullable,
        precision=_precision(column, data_type),
        scale=int(getattr(column, "decimals", 0) or 0),
        display_width=width,
        labels=tuple(column.enum_values or column.set_values or ()),
        default=hint.default if hint is not None else None,  # typed by rows.table_codec
    )


def _precision(column: Any, data_type: str) -> int:
    if data_type == "decimal":
        return int(column.precision)
    if data_type == "bit":
        return int(column.bits)
    return int(getattr(column, "max_length", 0) or 0)


def _table_map(event: Any, hints: TableHints | None) -> TableMap:
    nulls = bytes(event.null_bitmask)
    known = hints.columns if hints else {}
    columns = tuple(
        describe_column(c, bool(nulls[i // 8] & (1 << (i % 8))), known.get(str(c.name)))
        for i, c in enumerate(event.columns)
    )
    key = event.table_obj.primary_key if hasattr(event, "table_obj") else ""
    flagged = [c.name for c in event.columns if c.is_primary] if not key else _key_list(key)
    # the binlog lists key columns in column order; the catalog knows the key's own order
    ordered = tuple(hints.key) if hints and set(hints.key) == set(flagged) else tuple(flagged)
    wire = tuple(wire_column(c) for c in event.columns)
    return TableMap(TableId(str(event.schema), str(event.table)), columns, ordered, wire)


def _key_list(key: Any) -> list[str]:
    return [key] if isinstance(key, str) else [str(k) for k in key]


def _empty_sets(values: dict[str, Any], none_sources: Mapping[str, str]) -> dict[str, Any]:
    """``values`` (the decoder's own dict, not shared) with empty sets and zero dates restored."""
    for name, source in none_sources.items():
        if source == "empty set":
            values[name] = frozenset()
        elif source.startswith("out of date"):  # "… date range", "… datetime(2) range"
            values[name] = ZERO_DATE
    return values


def _parse(event: Any) -> RawPairs:
    """The library's rows of a row event (the library decodes them now, in Python)."""
    if isinstance(event, WriteRowsEvent):
        return tuple((None, _empty_sets(r["values"], r["none_sources"])) for r in event.rows)
    if isinstance(event, DeleteRowsEvent):
        return tuple((_empty_sets(r["values"], r["none_sources"]), None) for r in event.rows)
    return tuple(
        (
            _empty_sets(r["before_values"], r["before_none_sources"]),
            _empty_sets(r["after_values"], r["after_none_sources"]),
        )
        for r in event.rows
    )


def _op(event: Any) -> Op:
    if isinstance(event, WriteRowsEvent):
        return Op.CREATE
    return Op.DELETE if isinstance(event, DeleteRowsEvent) else Op.UPDATE


_ROW_EVENT_TYPES = frozenset({
    BINLOG.WRITE_ROWS_EVENT_V1, BINLOG.UPDATE_ROWS_EVENT_V1, BINLOG.DELETE_ROWS_EVENT_V1,
    BINLOG.WRITE_ROWS_EVENT_V2, BINLOG.UPDATE_ROWS_EVENT_V2, BINLOG.DELETE_ROWS_EVENT_V2,
})  # fmt: skip


def _row_image(event: Any) -> bytes | memoryview | None:
    """The row images of a row event whose header and bitmaps the library has read: the rest
    of the event, checksum excluded. None unless every column is present in every image
    (``binlog_row_image=FULL``) and the library's read position is where we expect it."""
    if event.event_type not in _ROW_EVENT_TYPES or not event.complete:
        return None
    count = int(event.number_of_columns)
    bitmaps = [event.columns_present_bitmap]
    if isinstance(event, UpdateRowsEvent):
        bitmaps.append(event.columns_present_bitmap2)
    if count != len(event.columns) or not all(_all_set(b, count) for b in bitmaps):
        return None
    wrapper = event.packet
    if wrapper._BinLogPacketWrapper__data_buffer:  # bytes pushed back by the library: unused
        return None
    packet = wrapper.packet
    start = int(packet._position)
    end = start + int(event.event_size) - int(wrapper.read_bytes)
    data: bytes = packet._data
    return memoryview(data)[start:end] if start <= end <= len(data) else None


def _all_set(bitmap: bytes, count: int) -> bool:
    full, rest = divmod(count, 8)
    return (
        len(bitmap) == (count + 7) // 8
        and bitmap[:full] == b"\xff" * full
        and (not rest or bitmap[full] & ((1 << rest) - 1) == (1 << rest) - 1)
    )


def _rows(event: Any, table_map: TableMap) -> Rows:
    return Rows(table_map, _op(event), lambda: _parse(event), _row_image(event))


def _start_options(start: BinlogPosition | None) -> dict[str, Any]:
    if start is None:
        return {"resume_stream": False}
    if isinstance(start.gtids, MariadbGtidPos):
        return {"is_mariadb": True, "auto_position": start.gtids.encode()}
    if isinstance(start.gtids, MysqlGtidSet):
        return {"auto_position": start.gtids.encode()}
    assert start.file is not None
    return {"resume_stream": True, "log_file": start.file.file, "log_pos": start.file.pos}


class _StreamReader(BinLogStreamReader):  # type: ignore[misc]  # untyped library class
    """python-mysql-replication's reader with two protocol fixes (1.0.17).

    1. MariaDB GTID mode: the library's COM_BINLOG_DUMP packet declares 14 bytes but sends 15
       (four NUL bytes for an empty file name where three fit). The stray byte stays in the
       server's socket buffer, and the server resets the connection at a random point of the
       dump. We send the packet with an empty file name and its true length.
    2. On a lost connection the library reconnects silently, from the position it started
       with (GTID mode) or from the middle of a transaction (file mode): events would repeat
       or transactions arrive cut. We raise instead; the caller resumes from the position of
       the last whole transaction, which is the only position it stores anyway.
    """

    _connections = 0

    def _BinLogStreamReader__set_mariadb_settings(self) -> bytes:
        cur = self._stream_connection.cursor()
        if self.auto_position is not None:
            cur.execute("SET @slave_connect_state = %s", (self.auto_position,))
        cur.execute("SET @slave_gtid_strict_mode=1")
        cur.execute("SET @slave_gtid_ignore_duplicates=0")
        cur.close()
        flags = 0x02 if self._BinLogStreamReader__annotate_rows_event else 0  # annotate rows
        flags |= 0 if self._BinLogStreamReader__blocking else 0x01  # BINLOG_DUMP_NON_BLOCK
        payload = struct.pack(
            "<BIHI", COM_BINLOG_DUMP, 4, flags, self._BinLogStreamReader__server_id
        )  # position 4, flags, our server id; empty file name: nothing after it
        return struct.pack("<I", len(payload))[:3] + b"\x00" + payload

    def _BinLogStreamReader__connect_to_stream(self) -> None:
        if self._connections:
            raise pymysql.err.OperationalError(2013, "binlog connection lost")
        self._connections += 1
        super()._BinLogStreamReader__connect_to_stream()


_EVENTS = [
    MariadbGtidEvent, GtidEvent, TableMapEvent, WriteRowsEvent, UpdateRowsEvent,
    DeleteRowsEvent, QueryEvent, XidEvent, RotateEvent,
]  # fmt: skip


class BinlogReader:
    """Reads binlog events from ``start`` (None: from the oldest binlog on the server).

    ``hints(table)`` is asked for a table's ``TableHints`` when a TABLE_MAP arrives whose table
    has none cached; ``forget(table)`` drops them (after DDL). ``blocking=False`` stops at the
    end of the binlog; otherwise reading waits for new events (with a heartbeat every
    ``heartbeat`` seconds so a dead connection is noticed).
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        server_id: int,
        start: BinlogPosition | None,
        *,
        schemas: Sequence[str] | None = None,
        blocking: bool = True,
        heartbeat: float = 5.0,
        hints: Any = None,
    ) -> None:
        self._hints_of = hints
        self._hints: dict[TableId, TableHints | None] = {}
        self._schemas = set(schemas) if schemas else None
        self._maps: dict[int, TableMap] = {}
        self._stream = _StreamReader(
            connection_settings=dict(settings),
            server_id=server_id,
            blocking=blocking,
            only_events=_EVENTS,
            only_schemas=list(schemas) if schemas else None,
            slave_heartbeat=heartbeat if blocking else None,
            enable_logging=False,
            **_start_options(start),
        )

    @property
    def file(self) -> str:
        return str(self._stream.log_file or "")

    @property
    def pos(self) -> int:
        return int(self._stream.log_pos or 0)

    def forget(self, table: TableId) -> None:
        self._hints.pop(table, None)

    def __iter__(self) -> Iterator[BinlogEvent]:
        try:
            for event in self._stream:
                converted = self._convert(event)
                if converted is not None:
                    yield converted
        except pymysql.err.OperationalError as exc:
            raise _stream_error(exc) from exc

    def _convert(self, event: Any) -> BinlogEvent | None:
        if isinstance(event, TableMapEvent):
            return self._on_table_map(event)
        if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
            table_map = self._maps.get(event.table_id)
            return _rows(event, table_map) if table_map is not None else None
        if isinstance(event, MariadbGtidEvent):
            standalone = bool(event.flags & _MARIADB_FL_STANDALONE)
            return Gtid(str(event.gtid), standalone, int(event.timestamp))
        if isinstance(event, GtidEvent):
            return Gtid(str(event.gtid), False, int(event.timestamp))
        if isinstance(event, QueryEvent):
            schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
            return Query(str(schema or ""), _query_text(event.query), int(event.timestamp))
        if isinstance(event, XidEvent):
            return Xid(int(event.xid), int(event.timestamp))
        if isinstance(event, RotateEvent):
            self._maps.clear()  # table ids are only valid within one binlog file's maps
        return None

    def _on_table_map(self, event: Any) -> TableMap | None:
        table = TableId(str(event.schema), str(event.table))
        if self._schemas is not None and table.schema not in self._schemas:
            return None
        if table not in self._hints and self._hints_of is not None:
            self._hints[table] = self._hints_of(table)
        table_map = _table_map(event, self._hints.get(table))
        self._maps[int(event.table_id)] = table_map
        return table_map

    def close(self) -> None:
        self._stream.close()


def _query_text(query: Any) -> str:
    return query.decode(errors="replace") if isinstance(query, bytes) else str(query)


def _stream_error(exc: pymysql.err.OperationalError) -> StreamError:
    code = exc.args[0] if exc.args else 0
    if code == 1236:
        return StreamError(
            f"the server cannot stream from the stored position: {exc.args[1:]}",
            fix="the binlog holding that position was purged (binlog retention is shorter "
            "than the connector's lag): take a new snapshot (snapshot mode 'initial' with the "
            "stored position cleared)",
        )
    return StreamError(f"binlog connection failed: {exc}", retriable=True)
