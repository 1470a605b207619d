"""The snapshot's native hot path: COPY text straight to Avro records, Python where C declines.

``RowDecoder`` (text → Python values) and ``FastTableSerializer`` (values → Avro) cost about
twelve microseconds a row; the C ``Encoder`` of ``_speedups`` goes from the COPY bytes to the
same Confluent-framed key and value records in well under one. It is configured once per table
schema by ``native_table``, which maps each column's type to a C codec through one table
(``_CODES``, keyed by the column's parser and Avro type, so a domain or an enum maps as the type
it is published as), and gives up (None: the table keeps the Python path) when a published column
has a type the C code does not handle (arrays, intervals, …) or the serializer is not the fast one.

Per row, the C code declines what it does not parse exactly as the Python path would (another
text form, infinity or BC dates, out-of-range values, NULL in a key or NOT NULL column, invalid
UTF-8, a wrong field count): ``NativeTable.encode`` then decodes and encodes those rows through
``RowDecoder`` and the serializer, which write them or raise their clear errors. The bytes are
the same either way (tests compare both paths value by value).

Excluded columns are parsed too when the C code handles their type (a value the Python path
would refuse is declined, so the row gets the same error); an excluded column of another type is
only checked for valid UTF-8 and never blocks the table's native path.

The streaming path uses the same ``Encoder``: pgoutput's text tuple values are the same text
without COPY's escapes. ``Encoder.encode_tuple`` reads one tuple straight from a pgoutput message
and gives the row's key and value records (None when declined: an unchanged TOAST value, binary
data, anything above); ``native_stream`` publishes streamed inserts and updates so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from strangler.connectors.postgres import pgtext, types
from strangler.connectors.postgres.copytext import parse_copy_line, parse_copy_rows
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.messages import Relation, TupleData
from strangler.connectors.postgres.rows import RowDecoder, column_types
from strangler.connectors.postgres.types import ColumnType, TypeInfo
from strangler.connectors.serialization import TableSerializer
from strangler.core.schema import TableSchema

try:
    from strangler.connectors.postgres._speedups import Encoder
except ImportError:  # not built (a source checkout without a compiler): the Python path
    Encoder = None  # type: ignore[assignment,misc]

SKIP, INT, LONG, BOOL, FLOAT, DOUBLE, STRING, DECIMAL, DATE, TIME, TIMESTAMP, UUID, BYTEA = range(
    13
)
"""The C type codes (the enum at the top of ``_speedups.c``)."""

_TEXT: Final = types.SCALARS[25](-1).parse
_UUID: Final = types.SCALARS[2950](-1).parse

_CODES: dict[tuple[Callable[[str], Any], str], int] = {
    (pgtext.parse_int, "int"): INT,
    (pgtext.parse_int, "long"): LONG,
    (pgtext.parse_bool, "boolean"): BOOL,
    (pgtext.parse_float, "float"): FLOAT,
    (pgtext.parse_float, "double"): DOUBLE,
    (_TEXT, "string"): STRING,
    (pgtext.parse_decimal, "decimal"): DECIMAL,
    (pgtext.parse_date, "date"): DATE,
    (pgtext.parse_time, "time-micros"): TIME,
    (pgtext.parse_timestamp, "timestamp-micros"): TIMESTAMP,
    (_UUID, "uuid"): UUID,
    (pgtext.parse_bytea, "bytes"): BYTEA,
}
"""(parser, Avro type or logical type) → C codec: the Python path's pair the codec mirrors."""


def column_code(column_type: ColumnType) -> tuple[int, int] | None:
    """The C codec (type code, decimal scale) of a column type; None if there is none."""
    avro_type = column_type.avro_type
    if isinstance(avro_type, str):
        name = avro_type
    elif isinstance(avro_type, dict):
        name = str(avro_type.get("logicalType", avro_type.get("type")))
    else:
        return None
    code = _CODES.get((column_type.parse, name))
    if code is None:
        return None
    scale = int(avro_type.get("scale", 0)) if isinstance(avro_type, dict) else 0
    return code, scale


@dataclass(slots=True)
class EncodedChunk:
    """A chunk's records: key and value bytes, row by row."""

    keys: list[bytes]
    values: list[bytes | None]

    def __len__(self) -> int:
        return len(self.keys)


class NativeTable:
    """One table's native encoder, and the Python path for the rows it declines."""

    def __init__(
        self,
        encoder: Encoder,
        relation: Relation,
        schema: TableSchema,
        decode: RowDecoder,
        serializer: TableSerializer,
        topic: str,
    ) -> None:
        self._encoder = encoder
        self._relation = relation
        self._schema = schema
        self._decode = decode
        self._serializer = serializer
        self._topic = topic

    @property
    def tuple_encoder(self) -> Callable[[bytes, int], tuple[bytes, bytes] | None]:
        """``Encoder.encode_tuple``: one pgoutput tuple at an offset of a message to its key
        and value records (None: declined, see ``native_stream``)."""
        return self._encoder.encode_tuple

    @property
    def full_update_encoder(self) -> Callable[[bytes, int], tuple[bytes, bytes] | None]:
        """``Encoder.encode_full_update``: an Update's old and new images (REPLICA IDENTITY
        FULL) to the new row's records when its key did not change (None: declined)."""
        return self._encoder.encode_full_update

    def encode(self, data: bytes) -> EncodedChunk:
        """The records of every row of ``data`` (COPY text, whole lines)."""
        if data and not data.endswith(b"\n"):
            parse_copy_rows(data)  # explains it (DecodeError)
        keys, values, declined = self._encoder.encode(data)
        if declined:
            self._python(data, declined, keys, values)
        return EncodedChunk(keys, values)  # type: ignore[arg-type]  # no None left in keys

    def _python(
        self,
        data: bytes,
        declined: list[int],
        keys: list[bytes | None],
        values: list[bytes | None],
    ) -> None:
        """Declined rows through today's path: it writes them or raises its clear error."""
        lines = data.split(b"\n")
        serializer, topic, schema = self._serializer, self._topic, self._schema
        for i in declined:
            row = self._decode(self._relation, TupleData(parse_copy_line(lines[i])))
            keys[i] = serializer.key(topic, schema, row)
            values[i] = serializer.value(topic, schema, row)


def native_table(
    relation: Relation,
    schema: TableSchema,
    catalog: Mapping[int, TypeInfo],
    serializer: TableSerializer,
    topic: str,
) -> NativeTable | None:
    """The native encoder of ``relation``'s rows (COPY fields in its column order) as records of
    ``schema``; None when the table keeps the Python path."""
    if Encoder is None or not isinstance(serializer, FastTableSerializer) or not schema.key:
        return None
    column_type = column_types(relation, catalog)
    index = {c.name: i for i, c in enumerate(relation.columns)}
    published = {c.name for c in schema.columns} | set(schema.key)
    columns: list[tuple[int, int]] = []
    for column, ctype in zip(relation.columns, column_type, strict=True):
        code = column_code(ctype)
        if code is None and column.name in published:
            return None
        columns.append(code or (SKIP, 0))
    if any(
        c.name not in index or c.avro_type != column_type[index[c.name]].avro_type
        for c in schema.columns
    ):
        return None  # not the shape these columns decode to: leave it to the general path
    key_id, value_id = serializer.schema_ids(topic, schema)
    encoder = Encoder(
        columns,
        [(index[c.name], c.nullable) for c in schema.columns],
        [index[name] for name in schema.key],
        key_id,
        value_id,
    )
    return NativeTable(encoder, relation, schema, RowDecoder(catalog), serializer, topic)
