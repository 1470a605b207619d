"""The snapshot's native encoder (``_snapshot.TextEncoder``) against the Python path: pymysql's
own parsing of the same text-protocol row packet, ``TableCodec.from_text`` and
``FastTableSerializer`` for the published schema. Every value the C code encodes has the
Python path's exact bytes; what it declines (zero dates, TIMEs outside one day, invalid UTF-8,
NULL keys, odd text, malformed packets) goes to the Python path, which writes it or raises.
``feed`` (and ``snapshot._read_encoded`` around it) reads a result's packets off the wire as
pymysql does: sequence numbers, 16 MiB continuations, error and EOF packets."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pymysql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymysql.connections import MySQLResult
from pymysql.constants import CLIENT
from pymysql.protocol import MysqlPacket

from strangler.connectors.mysql import snapshot
from strangler.connectors.mysql.errors import ValueConversionError
from strangler.connectors.mysql.native import text_encoder
from strangler.connectors.mysql.rows import TableCodec, table_codec
from strangler.connectors.mysql.types import SourceColumn
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.core.events import TableId
from strangler.core.schema import TableSchema
from tests.unit.connectors.mysql.test_my_native_text import (
    ASCII,
    BINARY,
    KINDS,
    UTF8,
    _fields,
    _raw,
    _Result,
)

pytestmark = pytest.mark.unit

TOPIC = "db.t"
KEY_ID, VALUE_ID = 0x01020304, 0x0A0B0C0D

NATIVE: dict[str, list[Any]] = {
    "int": ["0", "1", "-1", "2147483647", "-2147483648", "8191", "8192", "-8193", "007", "-0"],
    "int unsigned": ["0", "4294967295"],
    "bigint": ["9223372036854775807", "-9223372036854775808", "1099511627776"],
    "bigint unsigned": ["0", "18446744073709551615", "9223372036854775808"],
    "tinyint(1)": ["0", "1", "2", "127", "-128"],
    "bool": ["0", "1", "-1"],
    "year": ["2024", "0000", "1901", "2155"],
    "decimal": ["-1.25", "0.00", "99999999.99", "-99999999.99", "1.5", "-0.01", "128.00"],
    "decimal(38,10)": ["-1234567890123456789012345678.0123456789", "0.0000000001", "0.0000000000"],
    "double": ["1.1", "-0", "1e308", "1.7976931348623157e308", "5e-324", "-2.5e-10", "0"],
    "float": ["1.1", "3.40282e38", "-1.17549e-38", "0"],
    "varchar": ["", "abc", "ünï ✓ 日本 🎉", "x" * 300, "y" * 70_000],
    "json": ['{"a": [1, 2.5]}', ""],
    "enum": ["a", ""],
    "set": ["x,y", ""],
    "char from a binary field": [b"ab", b"\xc3\xa9"],
    "binary(4)": [b"", b"ab", b"abcd", b"\x00", b"\x00\x00\x00\x00"],
    "binary(1)": [b"", b"\xff", b"\x00"],
    "varbinary": [b"", b"\x00\xff", bytes(range(256))],
    "blob": [b"", b"\x01", bytes(300)],
    "bit(1)": [b"\x00", b"\x01", b"", b"\x00\x00"],
    "bit(10)": [b"\x02\x01", b"\x01", b"", b"\x01\x02\x03"],
    "bit(64)": [b"\xff" * 8, b"\x01"],
    "date": ["2024-02-29", "1000-01-01", "9999-12-31", "0001-01-01", "1969-12-31"],
    "datetime": ["2024-01-02 03:04:05", "2024-01-02 03:04:05.5", "9999-12-31 23:59:59.999999",
                 "1000-01-01 00:00:00.000001", "1969-12-31 23:59:59.99"],
    "timestamp": ["1970-01-01 00:00:01", "2038-01-19 03:14:07.999999", "2024-05-01 10:00:00.5"],
    "time": ["00:00:00", "23:59:59", "12:34:56.7", "12:34:56.999999", "00:00:00.000001"],
    "uuid": ["123e4567-e89b-12d3-a456-426614174000"],
    "inet6": ["2001:db8::1", "::ffff:10.0.0.1"],
}  # fmt: skip
"""Values the C code encodes itself (never declined)."""

DECLINED: dict[str, list[Any]] = {
    "int": ["+5", " 5", "", "x", "1e3", "123456789012345678901234567890"],
    "decimal": ["1e5", "x", "", "-0.00", "1.234", ".5", "5."],
    "double": ["x", "", "1_0", " 1"],
    "float": ["3.5e38"],
    "varchar": [b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80"],
    "char from a binary field": [b"\xff"],
    "date": ["0000-00-00", "2024-00-10", "2024-01-00", "0000-01-01", "2023-02-29", "2024-2-3",
             "20240101", "2024-13-01"],
    "datetime": ["0000-00-00 00:00:00", "2024-00-01 00:00:00", "2024-01-02T03:04:05",
                 "2024-01-02 03:04:05.1234567", "2024-01-02 24:00:00", "2024-01-02 03:04:05+01:00"],
    "timestamp": ["0000-00-00 00:00:00"],
    "time": ["24:00:00", "-01:00:00", "838:59:59", "-00:00:01", "23:60:00", "12:34:56."],
}  # fmt: skip
"""Values the C code leaves to the Python path (which converts them, warns or raises)."""

KINDS_HERE = {
    **KINDS,
    "decimal(38,10)": (SourceColumn("v", "decimal", precision=38, scale=10), ASCII, []),
    "bit(64)": (SourceColumn("v", "bit", precision=64), BINARY, []),
}


class Paths:
    """A table of an ``id`` key column (and more key columns: ``key``) and columns c0, c1… of
    ``names``, published without ``excluded``: the C encoder and the Python path."""

    def __init__(
        self,
        names: list[str],
        *,
        key: tuple[str, ...] = ("id",),
        excluded: frozenset[str] = frozenset(),
    ) -> None:
        columns = [SourceColumn("id", "int", nullable=False)]
        columns += [
            SourceColumn(**{**_fields(KINDS_HERE[n][0]), "name": f"c{i}"})
            for i, n in enumerate(names)
        ]
        self.encodings: list[str | None] = [ASCII, *(KINDS_HERE[n][1] for n in names)]
        self.codec: TableCodec = table_codec(TableId("db", "t"), columns, list(key))
        source = self.codec.schema
        kept = tuple(c for c in source.columns if c.name not in excluded)
        self.schema = TableSchema(source.table, kept, source.key)
        self.serializer = FastTableSerializer(_Registrar(), "test")
        ids = self.serializer.schema_ids(TOPIC, self.schema)
        assert ids == (KEY_ID, VALUE_ID)
        encoder = text_encoder(columns, self.codec.types, self.encodings, self.schema, ids)
        assert encoder is not None, "the table should take the native path"
        self.encoder = encoder

    def python(self, packet: bytes) -> tuple[bytes, bytes | None]:
        parse: Any = MySQLResult._read_row_from_packet  # type: ignore[attr-defined]  # private
        row = self.codec.from_text(parse(_Result(self.encodings), MysqlPacket(packet, "utf8")))
        serializer, schema = self.serializer, self.schema
        return serializer.key(TOPIC, schema, row), serializer.value(TOPIC, schema, row)

    def outcome(self, packet: bytes) -> Any:
        """The Python path's records, or the type of its error."""
        try:
            return self.python(packet)
        except Exception as exc:  # noqa: BLE001 - compared with the native path's outcome
            return type(exc)


class _Registrar:
    def register(self, subject: str, schema: Any) -> int:
        return KEY_ID if subject.endswith("-key") else VALUE_ID


def _lenenc(value: bytes | None) -> bytes:
    if value is None:
        return b"\xfb"
    n = len(value)
    if n < 251:
        return bytes([n]) + value
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little") + value
    return (
        b"\xfd" + n.to_bytes(3, "little") + value
        if n < 1 << 24
        else b"\xfe" + n.to_bytes(8, "little") + value
    )


def packet(*values: Any) -> bytes:
    return b"".join(_lenenc(_raw(v)) for v in values)


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_each_value_is_encoded_as_the_python_path_writes_it(name: str) -> None:
    paths = Paths([name])
    for value in [*NATIVE[name], None]:
        data = packet("7", value)
        assert paths.encoder.encode_packet(data) == paths.python(data), (name, value)


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_values_the_python_path_must_see_are_declined(name: str) -> None:
    paths = Paths([name])
    for value in DECLINED[name]:
        data = packet("7", value)
        assert paths.encoder.encode_packet(data) is None, (name, value)
        paths.outcome(data)  # writes it (a zero date: NULL, with a warning) or raises


def test_zero_dates_and_out_of_day_times_take_the_python_path() -> None:
    paths = Paths(["date", "datetime"])
    data = packet("1", "0000-00-00", "2024-01-00 10:00:00")
    assert paths.encoder.encode_packet(data) is None
    _key, value = paths.python(data)  # both published as NULL
    assert value is not None and value.endswith(b"\x00\x00")
    times = Paths(["time"])
    for text in ["24:00:00", "-00:00:01"]:
        assert times.encoder.encode_packet(packet("1", text)) is None
        with pytest.raises(ValueConversionError, match="outside 00:00:00"):
            times.python(packet("1", text))


def test_a_null_key_is_declined_and_refused_by_the_python_path() -> None:
    paths = Paths(["int"])
    assert paths.encoder.encode_packet(packet(None, "1")) is None
    assert _failure(paths.outcome(packet(None, "1")))
    assert paths.encoder.encode_packet(packet("1", None)) == paths.python(packet("1", None))


def _failure(outcome: Any) -> bool:
    return isinstance(outcome, type) and issubclass(outcome, Exception)


def test_excluded_columns_and_a_multi_column_key() -> None:
    names = ["varchar", "decimal", "geometry", "datetime", "bigint unsigned"]
    paths = Paths(names, key=("c4", "id"), excluded=frozenset({"c1", "c2"}))
    assert [c.name for c in paths.schema.columns] == ["id", "c0", "c3", "c4"]
    point = b"\x00\x00\x00\x00\x01\x01"
    rows = [
        packet("1", "a", "-5.25", point, "2024-01-02 03:04:05", "18446744073709551615"),
        packet("2", None, None, None, None, "0"),
        packet("3", "é", "1.5", b"", "1970-01-01 00:00:00.000001", "42"),
    ]  # fmt: skip
    for data in rows:
        records = paths.encoder.encode_packet(data)
        assert records is not None and records == paths.python(data)
    # an excluded column's bad value is still the Python path's (its error)
    bad = packet("4", "a", "x", b"", None, "1")
    assert paths.encoder.encode_packet(bad) is None
    assert _failure(paths.outcome(bad))


def test_malformed_packets_are_declined() -> None:
    paths = Paths(["int", "varchar"])
    good = packet("1", "5", "abc")
    assert paths.encoder.encode_packet(good) is not None
    for cut in range(len(good)):
        assert paths.encoder.encode_packet(good[:cut]) is None
    for bad in [good + b"\x00", b"\xff" + good[1:], b"\x01" + b"1" + b"\xfe" + b"\xff" * 8]:
        assert paths.encoder.encode_packet(bad) is None


def test_plans_decline_fields_the_c_code_does_not_read_the_python_way() -> None:
    paths = Paths(["varchar"])
    columns, types = paths.codec.columns, paths.codec.types
    ids = (KEY_ID, VALUE_ID)
    assert text_encoder(columns, types, [ASCII, "latin1"], paths.schema, ids) is None
    assert text_encoder(columns, types, [None, UTF8], paths.schema, ids) is None  # int as bytes
    assert text_encoder(columns, types, [ASCII], paths.schema, ids) is None
    geometry = Paths(["int"])  # a published geometry column: no native path
    cols = (*geometry.codec.columns[:1], SourceColumn("c0", "geometry"))
    table = table_codec(TableId("db", "t"), cols, ["id"])
    assert text_encoder(cols, table.types, [ASCII, BINARY], table.schema, ids) is None


def _wire(payloads: list[bytes], seq: int) -> bytes:
    out = b""
    for payload in payloads:
        while True:  # 16 MiB segments continue in the next packet
            part, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
            out += len(part).to_bytes(3, "little") + bytes([seq & 0xFF]) + part
            seq += 1
            if len(part) < 0xFFFFFF:
                break
    return out


EOF_PACKET = b"\xfe\x00\x00\x22\x00"


def test_feed_splits_the_wire_into_rows_up_to_the_eof_packet() -> None:
    paths = Paths(["varchar"])
    rows = [packet(str(i), "v" * (i * 7)) for i in range(1, 60)] + [packet("99", b"\xff")]
    wire = _wire([*rows, EOF_PACKET], 5)
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    declined: list[tuple[int, bytes]] = []
    seq, pos, status, last = 5, 0, 0, None
    for end in range(0, len(wire) + 1, 97):  # arriving in pieces
        used, seq, status, end_packet, row = paths.encoder.feed(
            wire[pos:end], seq, keys, values, declined
        )
        pos += used
        last = row if row is not None else last
        if status:
            break
    else:
        used, seq, status, end_packet, row = paths.encoder.feed(
            wire[pos:], seq, keys, values, declined
        )
        pos += used
        last = row if row is not None else last
    assert (status, end_packet, pos, seq) == (1, EOF_PACKET, len(wire), (5 + 61) & 0xFF)
    assert last == rows[-1] and declined == [(59, rows[-1])]
    assert list(zip(keys, values, strict=True))[:59] == [paths.python(r) for r in rows[:59]]


def test_feed_joins_16_mib_packets_and_reports_errors_and_bad_sequence_numbers() -> None:
    paths = Paths(["varchar"])
    big = packet("1", "x" * 0xFFFFFF)
    wire = _wire([big, EOF_PACKET], 0)
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    declined: list[tuple[int, bytes]] = []
    used, seq, status, end_packet, last = paths.encoder.feed(wire, 0, keys, values, declined)
    assert (used, seq, status, end_packet, last) == (len(wire), 3, 1, EOF_PACKET, big)
    assert (keys[0], values[0]) == paths.python(big)
    error = b"\xff\x15\x04#28000denied"
    assert paths.encoder.feed(_wire([error], 1), 1, [], [], [])[1:4] == (2, 2, error)
    assert paths.encoder.feed(_wire([packet("1", "a")], 4), 3, [], [], [])[:3] == (0, 3, 3)
    assert paths.encoder.feed(_wire([big[:100]], 0)[:50], 0, [], [], [])[:3] == (0, 0, 0)


_NAMES = sorted(set(NATIVE) | set(DECLINED))


@settings(max_examples=400, deadline=None)
@given(names=st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4), data=st.data())
def test_any_values_are_the_python_paths_or_declined(names: list[str], data: Any) -> None:
    values = [
        data.draw(
            st.one_of(
                st.sampled_from(NATIVE.get(n, []) + DECLINED.get(n, []) or [None]),
                st.none(),
                st.text(alphabet="0123456789-:. eE+x", max_size=28),
                st.binary(max_size=12),
            )
        )
        for n in names
    ]
    paths = Paths(names)
    data_packet = packet("3", *values)
    native = paths.encoder.encode_packet(data_packet)
    if native is not None:
        assert native == paths.python(data_packet), (names, values)


class _Connection:
    """What ``snapshot._read_encoded`` uses of a pymysql connection: its socket's buffered
    reader (here over bytes), the next sequence number and ``_force_close``."""

    encoding = "utf8"

    def __init__(self, wire: bytes, seq: int) -> None:
        self._rfile = io.BufferedReader(io.BytesIO(wire), buffer_size=64)  # small reads
        self._next_seq_id = seq
        self._read_timeout = self._current_timeout = None
        self.closed = False

    def _force_close(self) -> None:
        self.closed = True


def _result(wire: bytes, seq: int = 1) -> Any:
    result = MySQLResult(_Connection(wire, seq))  # type: ignore[arg-type]  # a stand-in
    result.unbuffered_active = True
    return result


def test_read_encoded_reads_a_result_to_its_eof_packet() -> None:
    paths = Paths(["varchar"])
    rows = [packet(str(i), "x" * i) for i in range(1, 300)] + [packet("300", b"\xff")]
    eof = b"\xfe\x02\x00\x22\x00"  # 2 warnings
    result = _result(_wire([*rows, eof], 1), 1)
    conn = result.connection
    keys, values, declined, last = snapshot._read_encoded(result, paths.encoder)
    assert declined == [(299, rows[-1])] and last == rows[-1]
    assert list(zip(keys, values, strict=True))[:299] == [paths.python(r) for r in rows[:299]]
    assert (result.unbuffered_active, result.connection, result.warning_count) == (False, None, 2)
    assert conn._next_seq_id == (1 + 301) & 0xFF and not conn.closed


def test_read_encoded_raises_as_pymysql_does() -> None:
    paths = Paths(["varchar"])
    error = b"\xff\x15\x04#28000Access denied"
    result = _result(_wire([packet("1", "a"), error], 1))
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        snapshot._read_encoded(result, paths.encoder)
    assert not result.unbuffered_active
    wrong = _result(_wire([packet("1", "a")], 5), 1)
    with pytest.raises(pymysql.err.InternalError, match="got 5 expected 1"):
        snapshot._read_encoded(wrong, paths.encoder)
    assert wrong.connection.closed
    cut = _result(_wire([packet("1", "a"), EOF_PACKET], 1)[:-2])
    with pytest.raises(pymysql.err.OperationalError, match="Lost connection"):
        snapshot._read_encoded(cut, paths.encoder)
    assert cut.connection.closed


def test_wire_reading_only_where_results_end_with_an_eof_packet() -> None:
    state = {a: None for a in snapshot._PYMYSQL_STATE}
    assert snapshot._wire_readable(SimpleNamespace(client_flag=0, **state))
    deprecate_eof = SimpleNamespace(client_flag=CLIENT.DEPRECATE_EOF, **state)
    assert not snapshot._wire_readable(deprecate_eof)  # an OK packet would end the result
    assert not snapshot._wire_readable(SimpleNamespace(client_flag=0))  # another pymysql
