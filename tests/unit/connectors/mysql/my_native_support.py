"""Hand-built row events, decoded both ways: python-mysql-replication's rows converted by the
codec (the Python path) and the native decoder on the same event's row images.

``library_column`` describes a column as a TABLE_MAP does (python-mysql-replication's
``Column``); ``decode_both`` builds a real ``RowsEvent`` of the library from row images
encoded with the ``enc_*`` helpers (MySQL's binlog encodings), and returns each path's
``Outcome``: the rows, or that it raised.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from pymysql.protocol import MysqlPacket
from pymysqlreplication.column import Column as LibraryColumn
from pymysqlreplication.constants import BINLOG
from pymysqlreplication.packet import BinLogPacketWrapper
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from pymysqlreplication.table import Table

from strangler.connectors.mysql import binlog
from strangler.connectors.mysql.rows import TableCodec, table_codec
from strangler.connectors.mysql.transactions import decode_rows
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import Op

_TYPES = {
    (Op.CREATE, False): BINLOG.WRITE_ROWS_EVENT_V1,
    (Op.UPDATE, False): BINLOG.UPDATE_ROWS_EVENT_V1,
    (Op.DELETE, False): BINLOG.DELETE_ROWS_EVENT_V1,
    (Op.CREATE, True): BINLOG.WRITE_ROWS_EVENT_V2,
    (Op.UPDATE, True): BINLOG.UPDATE_ROWS_EVENT_V2,
    (Op.DELETE, True): BINLOG.DELETE_ROWS_EVENT_V2,
}
_TABLE_ID = 42


def library_column(name: str, field_type: int, **attrs: Any) -> Any:
    """A TABLE_MAP column as python-mysql-replication describes it."""
    base: dict[str, Any] = {
        "type": field_type, "name": name, "unsigned": False, "is_primary": False,
        "charset_id": None, "character_set_name": None, "collation_name": None,
        "enum_values": None, "set_values": None, "visibility": False,
    }  # fmt: skip
    base.update(attrs)
    if "bits" in attrs:
        base["bytes"] = (attrs["bits"] + 7) // 8
    return LibraryColumn(**base)


class _Ctl:
    """The control connection the library's events ask for the server kind."""

    charset = "utf8mb4"

    def _get_dbms(self) -> str:
        return "mariadb"


def _length_coded(n: int) -> bytes:
    return bytes([n]) if n < 251 else b"\xfc" + struct.pack("<H", n)


def row_event(columns: Sequence[Any], op: Op, image: bytes, *, v2: bool = False) -> Any:
    """A library ``RowsEvent`` of ``image`` (row images, every column present)."""
    event_type = _TYPES[(op, v2)]
    post = struct.pack("<Q", _TABLE_ID)[:6] + b"\x00\x00" + (b"\x02\x00" if v2 else b"")
    bitmap = b"\xff" * ((len(columns) + 7) // 8)
    bitmaps = bitmap * (2 if op is Op.UPDATE else 1)
    body = post + _length_coded(len(columns)) + bitmaps + image
    header = struct.pack("<IBIIIH", 1_700_000_000, event_type, 1, 19 + len(body), 0, 0)
    table = Table(_TABLE_ID, "db", "t", list(columns))
    wrapper = BinLogPacketWrapper(
        MysqlPacket(b"\x00" + header + body, "utf8"), {_TABLE_ID: table}, _Ctl(), (10, 11, 0),
        False, frozenset({WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent}), None, None, None,
        None, False, False, False, True, False,
    )  # fmt: skip
    return wrapper.event


def codec_of(columns: Sequence[Any], hints: dict[str, SourceColumn] | None = None) -> TableCodec:
    """The codec the stream builds from a TABLE_MAP of ``columns`` (first column: the key)."""
    columns[0].is_primary = True
    table_map_event = SimpleNamespace(
        schema="db", table="t", columns=list(columns),
        null_bitmask=b"\xff" * ((len(columns) + 7) // 8),
        table_obj=Table(_TABLE_ID, "db", "t", list(columns)),
    )  # fmt: skip
    key = (str(columns[0].name),)
    table_hints = binlog.TableHints(hints or {}, key)
    table_map = binlog._table_map(table_map_event, table_hints)
    return table_codec(table_map.table, table_map.columns, table_map.key, table_map.wire)


@dataclass(frozen=True)
class Outcome:
    rows: Any
    """The rows, each value as (type name, value) (floats by their bits); None: raised."""
    error: str | None

    def agrees(self, other: Outcome) -> bool:
        """The same rows, or both raised (the C code's errors are its own; the connector
        then decodes the event the Python way, which raises the Python path's error)."""
        return self.rows == other.rows and (self.error is None) == (other.error is None)


def normalized(value: Any) -> Any:
    """``value`` comparable by type and value (floats by their bits, so NaN equals NaN)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return tuple(normalized(v) for v in value)
    return (type(value).__name__, value)


def _outcome(decode: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(normalized(decode()), None)
    except Exception as exc:  # noqa: BLE001 - both paths' failures are compared, not handled
        return Outcome(None, f"{type(exc).__name__}: {exc}")


def decode_both(
    columns: Sequence[Any],
    op: Op,
    image: bytes,
    hints: dict[str, SourceColumn] | None = None,
    *,
    v2: bool = False,
) -> tuple[Outcome, Outcome]:
    """(Python path, native path) of one row event of ``columns`` with ``image``; also checks
    that the connector's own decoding (``decode_rows``) ends exactly as the Python path."""
    codec = codec_of(columns, hints)
    assert codec.native is not None, "the native decoder declined the table"

    def python() -> Any:
        event = row_event(columns, op, image, v2=v2)
        convert = codec.from_binlog
        return [
            (convert(b) if b is not None else None, convert(a) if a is not None else None)
            for b, a in binlog._parse(event)
        ]

    def native() -> Any:
        found = binlog._row_image(row_event(columns, op, image, v2=v2))
        assert found == image, "the row images were not found where they are"
        return codec.from_image(op, found)

    def connector() -> Any:
        event = row_event(columns, op, image, v2=v2)
        table_map = binlog.TableMap(codec.schema.table, codec.columns, codec.key)
        return decode_rows(codec, binlog._rows(event, table_map))

    expected = _outcome(python)
    assert _outcome(connector) == expected
    return expected, _outcome(native)


# ---- MySQL's binlog encodings ------------------------------------------------------------------


def null_bitmap(count: int, nulls: Sequence[int] = ()) -> bytes:
    bits = bytearray((count + 7) // 8)
    for i in nulls:
        bits[i // 8] |= 1 << (i % 8)
    return bytes(bits)


def enc_int(value: int, size: int) -> bytes:
    return (value % (1 << (8 * size))).to_bytes(size, "little")


def enc_string(raw: bytes, prefix: int) -> bytes:
    return len(raw).to_bytes(prefix, "little") + raw


_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def enc_decimal(value: Decimal, precision: int, scale: int) -> bytes:
    """MySQL's packed decimal (decimal2bin)."""
    negative = value < 0 or (value == 0 and value.is_signed())
    text = f"{value.copy_abs():.{scale}f}"
    whole, _, fraction = text.partition(".")
    integral = precision - scale
    whole = whole.lstrip("0").rjust(integral, "0")
    assert len(whole) == integral, f"{value} does not fit decimal({precision},{scale})"
    out = bytearray()
    head = integral % 9
    if head:
        out += int(whole[:head]).to_bytes(_DIG2BYTES[head], "big")
    for i in range(head, integral, 9):
        out += int(whole[i : i + 9]).to_bytes(4, "big")
    for i in range(0, scale - scale % 9, 9):
        out += int(fraction[i : i + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(fraction[scale - scale % 9 :]).to_bytes(_DIG2BYTES[scale % 9], "big")
    if negative:
        out = bytearray(b ^ 0xFF for b in out)
    out[0] ^= 0x80
    return bytes(out)


def enc_fraction(micros: int, fsp: int) -> bytes:
    if fsp == 0:
        return b""
    size = (fsp + 1) // 2
    stored = micros // int(10 ** (6 - 2 * size))  # fsp 1-2: hundredths, 3-4: 1/10000, 5-6: µs
    return stored.to_bytes(size, "big", signed=True)


def enc_date(year: int, month: int, day: int) -> bytes:
    return ((year << 9) | (month << 5) | day).to_bytes(3, "little")


def enc_datetime2(fields: tuple[int, int, int, int, int, int], micros: int, fsp: int) -> bytes:
    year, month, day, hour, minute, second = fields
    packed = (1 << 39) | ((year * 13 + month) << 22) | (day << 17) | (hour << 12)
    packed |= (minute << 6) | second
    return packed.to_bytes(5, "big") + enc_fraction(micros, fsp)


def enc_timestamp2(seconds: int, micros: int, fsp: int) -> bytes:
    return seconds.to_bytes(4, "big", signed=True) + enc_fraction(micros, fsp)


def enc_time2(hour: int, minute: int, second: int, micros: int, fsp: int) -> bytes:
    packed = 0x800000 | (hour << 12) | (minute << 6) | second
    return packed.to_bytes(3, "big") + enc_fraction(micros, fsp)
