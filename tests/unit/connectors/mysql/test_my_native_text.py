"""The snapshot's native row converter (``TextDecoder``) against the Python path: pymysql's own
parsing of the same text-protocol row packet, then ``TableCodec.from_text``. Canonical server
text, odd text (zero dates, durations, leading zeros), arbitrary bytes, NULLs, malformed
packets: the same values, or both raise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymysql.connections import MySQLResult
from pymysql.protocol import MysqlPacket

from strangler.connectors.mysql.native import text_decoder
from strangler.connectors.mysql.rows import TableCodec, table_codec
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import TableId
from tests.unit.connectors.mysql.my_native_support import Outcome, normalized

pytestmark = pytest.mark.unit

ASCII, UTF8, BINARY = "ascii", "utf8", None
"""How pymysql decodes a field: numbers and dates as ASCII, text as the connection's
charset (utf8mb4 → 'utf8'), binary fields not at all."""

_INTS = ["0", "1", "-1", "-0", "007", "+5", " 5", "", "x", "127", "-128", "2", "1e3",
         "9223372036854775807", "-9223372036854775808", "18446744073709551615",
         "123456789012345678901234567890"]  # fmt: skip
_DATES = ["2024-02-29", "1000-01-01", "9999-12-31", "0000-00-00", "2024-00-10", "2024-01-00",
          "2023-02-29", "2024-2-3", "2024-13-01", "20240101", "x"]  # fmt: skip
_CLOCKS = ["00:00:00", "23:59:59", "12:34:56.7", "12:34:56.78", "12:34:56.999999",
           "12:34:56.1234567", "24:00:00", "23:60:00", "-01:00:00", "838:59:59", "1:2:3",
           "12:34:56.", "12:34:56,5"]  # fmt: skip
_STAMPS = [f"{d} {c}" for d in _DATES[:6] for c in _CLOCKS] + ["2024-01-02T03:04:05", ""]

# name → (column, pymysql's encoding of the field, edge values)
KINDS: dict[str, tuple[SourceColumn, str | None, list[Any]]] = {
    "int": (SourceColumn("v", "int"), ASCII, _INTS),
    "int unsigned": (SourceColumn("v", "int", unsigned=True), ASCII, _INTS),
    "bigint": (SourceColumn("v", "bigint"), ASCII, _INTS),
    "bigint unsigned": (SourceColumn("v", "bigint", unsigned=True), ASCII, _INTS),
    "tinyint(1)": (SourceColumn("v", "tinyint", display_width=1), ASCII, _INTS),
    "bool": (SourceColumn("v", "bool"), ASCII, _INTS),
    "year": (SourceColumn("v", "year"), ASCII, ["2024", "0000", "0", "1901", "x"]),
    "decimal": (
        SourceColumn("v", "decimal", precision=10, scale=2),
        ASCII,
        ["-1.25", "0.00", "99999999.99", "1e5", "x", ""],
    ),
    "double": (SourceColumn("v", "double"), ASCII, ["1.1", "-0", "1e308", "nan", "inf", "x"]),
    "float": (SourceColumn("v", "float"), ASCII, ["1.1", "3.4e38", ""]),
    "varchar": (SourceColumn("v", "varchar"), UTF8, ["", "abc", "ünï ✓ 日本 🎉", b"\xff\xfe"]),
    "json": (SourceColumn("v", "json"), UTF8, ['{"a": [1, 2.5]}', ""]),
    "enum": (SourceColumn("v", "enum", labels=("", "a")), UTF8, ["a", ""]),
    "set": (SourceColumn("v", "set", labels=("x", "y")), UTF8, ["x,y", ""]),
    "char from a binary field": (SourceColumn("v", "char"), BINARY, [b"ab", b"\xc3\xa9", b"\xff"]),
    "binary(4)": (
        SourceColumn("v", "binary", precision=4),
        BINARY,
        [b"", b"ab", b"abcd", b"abcdef", b"\x00"],
    ),
    "binary(1)": (SourceColumn("v", "binary", precision=1), BINARY, [b"", b"\xff", b"\x00"]),
    "binary from a text field": (SourceColumn("v", "binary", precision=4), UTF8, ["ab", "é"]),
    "varbinary": (SourceColumn("v", "varbinary"), BINARY, [b"", b"\x00\xff", bytes(range(256))]),
    "blob": (SourceColumn("v", "blob"), BINARY, [b"", b"\x01"]),
    "bit(1)": (SourceColumn("v", "bit", precision=1), BINARY, [b"\x00", b"\x01", b"", b"\x00\x00"]),
    "bit(10)": (
        SourceColumn("v", "bit", precision=10),
        BINARY,
        [b"\x02\x01", b"\x01", b"", b"\x01\x02\x03"],
    ),
    "date": (SourceColumn("v", "date"), ASCII, _DATES),
    "datetime": (SourceColumn("v", "datetime"), ASCII, _STAMPS),
    "timestamp": (SourceColumn("v", "timestamp"), ASCII, _STAMPS),
    "time": (SourceColumn("v", "time"), ASCII, _CLOCKS),
    "uuid": (SourceColumn("v", "uuid"), UTF8, ["123e4567-e89b-12d3-a456-426614174000"]),
    "inet6": (SourceColumn("v", "inet6"), UTF8, ["2001:db8::1"]),
    "geometry": (SourceColumn("v", "geometry"), BINARY, [b"\xe6\x10\x00\x00\x01\x01", b"ab", b""]),
}


def _lenenc(value: bytes | None) -> bytes:
    if value is None:
        return b"\xfb"
    n = len(value)
    if n < 251:
        return bytes([n]) + value
    return b"\xfc" + n.to_bytes(2, "little") + value


def _raw(value: Any) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _codec(names: list[str]) -> tuple[TableCodec, list[str | None]]:
    columns = [SourceColumn("id", "int", nullable=False)]
    columns += [KINDS[n][0].__class__(**{**_fields(KINDS[n][0]), "name": f"c{i}"})
                for i, n in enumerate(names)]  # fmt: skip
    return table_codec(TableId("db", "t"), columns, ["id"]), [ASCII] + [KINDS[n][1] for n in names]


def _fields(column: SourceColumn) -> dict[str, Any]:
    return {f: getattr(column, f) for f in column.__slots__}


class _Result:
    """What pymysql's row parsing reads of its result: the fields' (encoding, converter)."""

    def __init__(self, encodings: list[str | None]) -> None:
        self.converters = [(e, None) for e in encodings]


def _both(names: list[str], packet: bytes) -> tuple[Outcome, Outcome]:
    codec, encodings = _codec(names)
    decoder = text_decoder(codec.columns, codec.types, encodings)
    assert decoder is not None

    def python() -> Any:
        parse: Any = MySQLResult._read_row_from_packet  # type: ignore[attr-defined]  # private
        row = parse(_Result(encodings), MysqlPacket(packet, "utf8"))
        return codec.from_text(row)

    def native() -> Any:
        return decoder.decode(packet)

    return _outcome(python), _outcome(native)


def _outcome(convert: Any) -> Outcome:
    try:
        return Outcome(normalized(convert()), None)
    except Exception as exc:  # noqa: BLE001 - both paths' failures are compared
        return Outcome(None, type(exc).__name__)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_value_converts_as_the_python_path(name: str) -> None:
    for value in [*KINDS[name][2], None]:
        packet = _lenenc(b"7") + _lenenc(_raw(value))
        python, native = _both([name], packet)
        assert native.agrees(python), f"{name}: {value!r}: {native} {python}"


def test_canonical_values_are_converted_without_the_python_converter() -> None:
    codec, encodings = _codec(["datetime", "time", "int", "binary(4)", "bit(10)"])
    decoder = text_decoder(codec.columns, codec.types, encodings)
    assert decoder is not None
    packet = b"".join(
        _lenenc(v) for v in [b"1", b"2024-01-02 03:04:05.5", b"23:59:59.999999", b"-42", b"ab",
                             b"\x01"]
    )  # fmt: skip
    row = decoder.decode(packet)
    assert row == codec.from_text(["1", "2024-01-02 03:04:05.5", "23:59:59.999999", "-42", b"ab",
                                   b"\x01"])  # fmt: skip
    assert row["c3"] == b"ab\x00\x00" and row["c4"] == b"\x00\x01"


def test_malformed_packets_raise() -> None:
    codec, encodings = _codec(["int", "varchar"])
    decoder = text_decoder(codec.columns, codec.types, encodings)
    assert decoder is not None
    good = _lenenc(b"1") + _lenenc(b"5") + _lenenc(b"abc")
    assert decoder.decode(good) == {"id": 1, "c0": 5, "c1": "abc"}
    for cut in range(len(good)):
        with pytest.raises(ValueError):
            decoder.decode(good[:cut])
    for bad in [good + b"\x00", b"\xff" + good[1:], b"\x01" + b"1" + b"\xfe" + b"\xff" * 8]:
        with pytest.raises(ValueError):
            decoder.decode(bad)


_NAMES = sorted(KINDS)


@settings(max_examples=500, deadline=None)
@given(names=st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4), data=st.data())
def test_any_values_convert_the_same_or_raise_in_both(names: list[str], data: Any) -> None:
    values = [
        data.draw(
            st.one_of(
                st.sampled_from(KINDS[n][2]),
                st.none(),
                st.text(alphabet="0123456789-:. eE+x", max_size=28),
                st.binary(max_size=12),
            )
        )
        for n in names
    ]
    packet = _lenenc(b"3") + b"".join(_lenenc(_raw(v)) for v in values)
    if data.draw(st.booleans()):
        packet = data.draw(st.binary(max_size=40)) if data.draw(st.booleans()) else packet[:-1]
    python, native = _both(names, packet)
    assert native.agrees(python), (names, values, packet, python, native)
