"""The native row decoder: a row event's images straight to the connector's row dicts.

python-mysql-replication decodes row events in pure Python, then ``TableCodec.from_binlog``
converts each value again: together about 60 µs of CPU per changed row. The C ``RowDecoder``
of ``_speedups`` goes from the event's bytes to the same dicts in one pass. The library still
does everything else (the connection, the replication protocol, GTIDs, TABLE_MAP, DDL, rotate)
and still parses each row event's header and column bitmaps: ``binlog.py`` hands over the row
images that follow them (``Rows.image``), and the library's own row decoding stays available
for any table the C code declines (``Rows.parse``).

The snapshot's SELECTs have the same kind of helper: ``TextDecoder`` converts a text-protocol row
packet straight to the row dict ``TableCodec.from_text`` makes of pymysql's row (``text_decoder``
below; ``snapshot.py`` feeds it the packets). Better still, ``_snapshot.TextEncoder`` (planned by
``text_encoder``) turns the packets straight into the Avro key and value records of the
published schema, as ``FastTableSerializer`` writes them: no row dict at all.

A ``RowDecoder`` is configured once per table version by ``row_decoder`` from two things:

- each column's layout in the binlog (``WireColumn``: field type and TABLE_MAP metadata, and
  the charset python-mysql-replication would decode it with), and
- the column's ``ColumnType.form`` (``types.Form``): what ``from_binlog`` returns for it.

It gives up (None: the table keeps the Python path) when a column has no native form (a type
outside the mapping), or a layout the C code does not read (MySQL's binary JSON, the pre-5.6
DATETIME/TIME/TIMESTAMP formats), or a charset Python has no codec for. Where the Python path
warns or raises (a zero date, a TIME outside one day), the C code calls the column's
``from_binlog`` with the library's value, so the warning or error is the same.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymysqlreplication.constants import FIELD_TYPE
from pymysqlreplication.row_event import RowsEvent

from strangler.connectors.mysql.types import ZERO_DATE, ColumnType, Form, SourceColumn
from strangler.core.schema import TableSchema

if TYPE_CHECKING:
    from strangler.connectors.mysql._speedups import ColumnSpec

try:
    from strangler.connectors.mysql._speedups import RowDecoder, TextDecoder
except ImportError:  # not built (a source checkout without a compiler): the Python path
    RowDecoder = None  # type: ignore[assignment,misc]
    TextDecoder = None  # type: ignore[assignment,misc]

WRITE, DELETE, UPDATE = 0, 1, 2
"""``RowDecoder.decode``'s op codes."""

_STRINGS = frozenset({FIELD_TYPE.STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.BLOB, FIELD_TYPE.GEOMETRY})
_INTS = frozenset(
    {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG}
)


@dataclass(frozen=True, slots=True)
class WireColumn:
    """How a column's values are laid out in row events, from its TABLE_MAP entry."""

    field_type: int
    a: int = 0
    """Length-prefix bytes (strings, blobs), enum/set size, bit width, decimal precision, fsp."""
    b: int = 0
    """Unsigned flag (integers), decimal scale."""
    encoding: str | None = None
    """The codec python-mysql-replication decodes the column's strings with (None: bytes)."""


def wire_column(column: Any) -> WireColumn:
    """A python-mysql-replication ``Column`` of a TABLE_MAP as a ``WireColumn``."""
    field_type = int(column.type)
    if field_type in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING):
        return WireColumn(field_type, 2 if column.max_length > 255 else 1, 0, _encoding(column))
    if field_type in (FIELD_TYPE.BLOB, FIELD_TYPE.GEOMETRY, FIELD_TYPE.JSON):
        return WireColumn(field_type, int(column.length_size), 0, _encoding(column))
    if field_type in (FIELD_TYPE.ENUM, FIELD_TYPE.SET):
        return WireColumn(field_type, int(column.size))
    if field_type == FIELD_TYPE.BIT:
        return WireColumn(field_type, int(column.bits))
    if field_type == FIELD_TYPE.NEWDECIMAL:
        return WireColumn(field_type, int(column.precision), int(column.decimals))
    if field_type in (FIELD_TYPE.TIME2, FIELD_TYPE.DATETIME2, FIELD_TYPE.TIMESTAMP2):
        return WireColumn(field_type, int(column.fsp))
    return WireColumn(field_type, 0, int(bool(column.unsigned)) if field_type in _INTS else 0)


def _encoding(column: Any) -> str | None:
    # as RowsEvent.__read_string: the charset's Python codec, UTF-8 without a charset, and
    # bytes where Python has no codec of that name ("binary", swe7, …)
    name = getattr(column, "character_set_name", None)
    if name is None:
        return "utf-8"
    encoding = str(RowsEvent.charset_to_encoding(name))
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None
    return encoding


def row_decoder(
    columns: Sequence[SourceColumn], types: Sequence[ColumnType], wire: Sequence[WireColumn]
) -> RowDecoder | None:
    """The C decoder of a table version's row images; None where it cannot decode them all
    exactly as the Python path does."""
    if RowDecoder is None or len(wire) != len(columns):
        return None
    specs = [_spec(c, t, w) for c, t, w in zip(columns, types, wire, strict=True)]
    known = [spec for spec in specs if spec is not None]
    if len(known) != len(specs):
        return None
    try:
        return RowDecoder(tuple(known), ZERO_DATE)
    except ValueError:  # metadata out of the ranges the C code reads (a corrupt TABLE_MAP)
        return None


def _spec(column: SourceColumn, column_type: ColumnType, wire: WireColumn) -> ColumnSpec | None:
    form = column_type.form
    if form is Form.NONE:
        return None
    pad = column.precision if column_type.sql_type.startswith("binary(") else 0
    if form is Form.BYTES and wire.encoding is not None:
        form = Form.HOOK  # a text charset on a binary type: the library's str, then the hook
    labels = column.labels if wire.field_type in (FIELD_TYPE.ENUM, FIELD_TYPE.SET) else None
    encoding = wire.encoding if wire.field_type in _STRINGS else None
    return (
        column.name, wire.field_type, int(form), wire.a, wire.b, pad, encoding, labels,
        column_type.from_binlog,
    )  # fmt: skip


def text_decoder(
    columns: Sequence[SourceColumn], types: Sequence[ColumnType], encodings: Sequence[str | None]
) -> TextDecoder | None:
    """The C converter of a SELECT's row packets whose fields pymysql decodes with
    ``encodings`` (None: bytes); None where a column has no native form."""
    if TextDecoder is None or len(encodings) != len(columns):
        return None
    specs = []
    for column, column_type, encoding in zip(columns, types, encodings, strict=True):
        if column_type.form is Form.NONE or not _known(encoding):
            return None
        bits = (column.precision or 1) if column_type.form is Form.BIT else 0
        pad = column.precision if column_type.sql_type.startswith("binary(") else 0
        spec = (column.name, int(column_type.form), bits, pad, encoding, column_type.from_text)
        specs.append(spec)
    return TextDecoder(tuple(specs))


def _known(encoding: str | None) -> bool:
    if encoding is None:
        return True
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


# ---- the snapshot's encoder: row packets straight to Avro records ----------------------------

try:
    from strangler.connectors.mysql._snapshot import TextEncoder
except ImportError:  # not built: the snapshot converts rows and the serializer encodes them
    TextEncoder = None  # type: ignore[assignment,misc]

SKIP, LONG, BOOL, BIT1, BITS, FLOAT, DOUBLE, STRING, DECIMAL, DATE, DATETIME, TIME, BYTES = range(
    13
)
"""``_snapshot.c``'s codecs (its enum)."""

_UTF8 = frozenset({None, "utf8", "utf-8", "utf8mb4"})
"""pymysql's decoding of a text field that ``types._to_text`` makes the same str of: none
(bytes, decoded as UTF-8) or UTF-8 (the snapshot connection's utf8mb4)."""
_TEXT_FORMS = frozenset({Form.TEXT, Form.SET, Form.HOOK})
"""Forms whose ``from_text`` is ``_to_text`` (HOOK: uuid, inet6, inet4)."""
_PARSED = {Form.INT: LONG, Form.YEAR: LONG, Form.BOOL: BOOL, Form.DATE: DATE,
           Form.DATETIME: DATETIME, Form.TIMESTAMP: DATETIME, Form.TIME: TIME}  # fmt: skip
"""Forms parsed from their text (pymysql decodes those fields as ASCII)."""


def snapshot_codec(
    column: SourceColumn, column_type: ColumnType, encoding: str | None
) -> tuple[int, int, int] | None:
    """The C codec (code, decimal scale, pad width) of a SELECT's column whose field pymysql
    decodes with ``encoding`` (None: bytes), where ``_snapshot.c`` writes exactly what
    ``from_text`` + ``FastTableSerializer`` write; None where it does not."""
    form, avro_type = column_type.form, column_type.avro_type
    if form in _TEXT_FORMS:
        return (STRING, 0, 0) if encoding in _UTF8 else None
    if form is Form.BYTES:  # bytes as they are; binary(n) padded
        pad = column.precision if column_type.sql_type.startswith("binary(") else 0
        return (BYTES, 0, pad) if encoding is None else None
    if form is Form.BIT:  # raw big-endian bytes
        width = column.precision or 1
        if encoding is not None:
            return None
        return (BIT1, 0, 0) if width == 1 else (BITS, 0, (width + 7) // 8)
    if encoding is None:  # numbers and times come as ASCII text
        return None
    if form is Form.DECIMAL and isinstance(avro_type, dict):
        return DECIMAL, int(avro_type.get("scale", 0)), 0
    if form is Form.FLOAT:
        return (FLOAT if avro_type == "float" else DOUBLE), 0, 0
    code = _PARSED.get(form)
    return None if code is None else (code, 0, 0)


def text_encoder(
    columns: Sequence[SourceColumn],
    types: Sequence[ColumnType],
    encodings: Sequence[str | None],
    schema: TableSchema,
    schema_ids: tuple[int, int],
) -> TextEncoder | None:
    """The C encoder of a SELECT of ``columns`` (in order, fields decoded by pymysql with
    ``encodings``) to records of the published ``schema`` (key and value schema ids
    ``schema_ids``); None where a column has no codec (the table keeps the Python path). An
    excluded column is parsed too (its bad value declines the row, which then fails the Python
    way); a geometry one is not looked at (its conversion cannot fail)."""
    if TextEncoder is None or len(encodings) != len(columns) or not schema.key:
        return None
    index = {c.name: i for i, c in enumerate(columns)}
    published = {c.name for c in schema.columns} | set(schema.key)
    plan: list[tuple[int, int, int]] = []
    for column, column_type, encoding in zip(columns, types, encodings, strict=True):
        code = snapshot_codec(column, column_type, encoding)
        if code is None:
            if column.name in published or column_type.form is not Form.GEOMETRY:
                return None
            code = (SKIP, 0, 0)
        plan.append(code)
    if any(
        c.name not in index or c.avro_type != types[index[c.name]].avro_type for c in schema.columns
    ) or any(name not in index for name in schema.key):
        return None  # not the shape these columns convert to: leave it to the Python path
    key_id, value_id = schema_ids
    return TextEncoder(
        plan,
        [(index[c.name], c.nullable) for c in schema.columns],
        [index[name] for name in schema.key],
        key_id,
        value_id,
    )
