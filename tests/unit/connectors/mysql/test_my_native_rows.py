"""The native row decoder against the Python path (python-mysql-replication + ``from_binlog``)
on hand-built row events: every column layout, edge values, NULLs, v1 and v2 events, inserts,
updates and deletes; malformed and truncated images raise, in both paths."""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymysqlreplication.constants import FIELD_TYPE as FT

from strangler.connectors.mysql import binlog
from strangler.connectors.mysql.errors import ValueConversionError
from strangler.connectors.mysql.transactions import decode_rows
from strangler.connectors.mysql.types import SourceColumn
from strangler.core.events import Op
from tests.unit.connectors.mysql.my_native_support import (
    codec_of,
    decode_both,
    enc_date,
    enc_datetime2,
    enc_decimal,
    enc_int,
    enc_string,
    enc_time2,
    enc_timestamp2,
    library_column,
    null_bitmap,
    row_event,
)

pytestmark = pytest.mark.unit

UTF8 = {"character_set_name": "utf8mb4"}
BINARY = {"character_set_name": "binary"}


@dataclass(frozen=True)
class Kind:
    """A column layout, a catalog hint if the type needs one, and encoded edge values."""

    column: Callable[[str], Any]
    values: tuple[bytes, ...]
    hint: str | None = None
    width: int = 0


def _ints(size: int, unsigned: bool) -> tuple[bytes, ...]:
    bits = 8 * size
    low, high = (0, (1 << bits) - 1) if unsigned else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return tuple(enc_int(v, size) for v in sorted({low, low + 1, 0, 1, high - 1, high}))


def _int_kind(field_type: int, size: int, unsigned: bool) -> Kind:
    return Kind(lambda n: library_column(n, field_type, unsigned=unsigned), _ints(size, unsigned))


def _decimal_values(precision: int, scale: int) -> tuple[bytes, ...]:
    with localcontext(prec=200):
        nines = Decimal("9" * precision).scaleb(-scale)
        tiny = Decimal(1).scaleb(-scale)
        picks = {Decimal(0), nines, -nines, tiny, -tiny, nines / 3, -(nines / 7)}
        quantum = Decimal(1).scaleb(-scale)
        return tuple(
            enc_decimal(v.quantize(quantum, rounding="ROUND_DOWN"), precision, scale) for v in picks
        )


def _decimal_kind(precision: int, scale: int) -> Kind:
    return Kind(
        lambda n: library_column(n, FT.NEWDECIMAL, precision=precision, decimals=scale),
        _decimal_values(precision, scale),
    )


def _floats(fmt: str, values: list[float]) -> tuple[bytes, ...]:
    return tuple(struct.pack(fmt, v) for v in values)


_SPECIAL = [0.0, -0.0, 1.1, -3.4e38, 1e-45, math.inf, -math.inf, math.nan]


def _temporal(field_type: int, fsp: int, values: list[bytes]) -> Kind:
    return Kind(lambda n: library_column(n, field_type, fsp=fsp), tuple(values))


def _datetimes(fsp: int) -> list[bytes]:
    fields = [(1000, 1, 1, 0, 0, 0), (2024, 2, 29, 23, 59, 59), (9999, 12, 31, 23, 59, 59)]
    micros = [0, 1, 500000, 999999]
    valid = [enc_datetime2(f, m, fsp) for f in fields for m in micros]
    zero = [
        enc_datetime2((0, 0, 0, 0, 0, 0), 0, fsp),
        enc_datetime2((2024, 0, 10, 0, 0, 0), 0, fsp),
    ]
    return valid + zero + [enc_datetime2((2023, 2, 30, 1, 2, 3), 0, fsp)]


def _timestamps(fsp: int) -> list[bytes]:
    seconds = [0, 1, 86399, 86400, 1_700_000_000, 2**31 - 1, -1, -(2**31)]
    return [enc_timestamp2(s, m, fsp) for s in seconds for m in (0, 250000, 999999)]


def _times(fsp: int) -> list[bytes]:
    clocks = [(0, 0, 0), (12, 34, 56), (23, 59, 59)]
    return [enc_time2(*c, m, fsp) for c in clocks for m in (0, 10000, 999999)]


def _labels(field_type: int, labels: list[str], size: int) -> Callable[[str], Any]:
    key = "enum_values" if field_type == FT.ENUM else "set_values"
    return lambda n: library_column(n, field_type, size=size, **{key: labels})


def _bit_kind(width: int) -> Kind:
    values = {0, 1, (1 << width) - 1, 0x5A5A % (1 << width)}
    return Kind(
        lambda n: library_column(n, FT.BIT, bits=width),
        tuple(v.to_bytes((width + 7) // 8, "big") for v in values),
    )


def _blob_kind(size: int) -> Kind:
    return Kind(
        lambda n: library_column(n, FT.BLOB, length_size=size, **BINARY),
        (enc_string(b"", size), enc_string(b"\x00\x01\xff", size)),
    )


_GEOMETRY = struct.pack("<I", 4326) + struct.pack("<BIdd", 1, 1, 1.0, 2.0)

KINDS: dict[str, Kind] = {
    "tinyint": _int_kind(FT.TINY, 1, False),
    "tinyint unsigned": _int_kind(FT.TINY, 1, True),
    "tinyint(1)": Kind(lambda n: library_column(n, FT.TINY), _ints(1, False), "tinyint", 1),
    "bool": Kind(lambda n: library_column(n, FT.TINY), _ints(1, False), "bool", 1),
    "smallint": _int_kind(FT.SHORT, 2, False),
    "smallint unsigned": _int_kind(FT.SHORT, 2, True),
    "mediumint": _int_kind(FT.INT24, 3, False),
    "mediumint unsigned": _int_kind(FT.INT24, 3, True),
    "int": _int_kind(FT.LONG, 4, False),
    "int unsigned": _int_kind(FT.LONG, 4, True),
    "bigint": _int_kind(FT.LONGLONG, 8, False),
    "bigint unsigned": _int_kind(FT.LONGLONG, 8, True),
    **{
        f"decimal({p},{s})": _decimal_kind(p, s)
        for p, s in [
            (1, 0),
            (1, 1),
            (2, 1),
            (5, 2),
            (9, 0),
            (9, 9),
            (10, 0),
            (10, 2),
            (10, 3),
            (18, 9),
            (19, 4),
            (20, 10),
            (27, 13),
            (38, 38),
            (65, 0),
            (65, 30),
        ]
    },
    "float": Kind(lambda n: library_column(n, FT.FLOAT, size=4), _floats("<f", _SPECIAL)),
    "double": Kind(
        lambda n: library_column(n, FT.DOUBLE, size=8),
        _floats("<d", [*_SPECIAL, 1e308, 5e-324, -0.1]),
    ),
    **{f"bit({w})": _bit_kind(w) for w in (1, 2, 7, 8, 9, 10, 16, 17, 63, 64)},
    "char utf8mb4": Kind(
        lambda n: library_column(n, FT.STRING, max_length=40, **UTF8),
        tuple(enc_string(s.encode(), 1) for s in ["", "ab", "ünï ✓ 日本", "🎉" * 10]),
    ),
    "varchar(300) utf8mb4": Kind(
        lambda n: library_column(n, FT.VARCHAR, max_length=1200, **UTF8),
        tuple(enc_string(s.encode(), 2) for s in ["", "x", "ü" * 300, "日本語" * 100]),
    ),
    "varchar latin1": Kind(
        lambda n: library_column(n, FT.VARCHAR, max_length=20, character_set_name="latin1"),
        tuple(enc_string(b, 1) for b in [b"", b"abc", b"h\xe9llo", b"\x80 \xff", b"\x81"]),
    ),
    "varchar ascii": Kind(
        lambda n: library_column(n, FT.VARCHAR, max_length=20, character_set_name="ascii"),
        tuple(enc_string(b, 1) for b in [b"plain", b"\xc3\xa9"]),
    ),
    "text utf8mb4": Kind(
        lambda n: library_column(n, FT.BLOB, length_size=2, **UTF8),
        tuple(enc_string(b, 2) for b in [b"", b"line\nbreak", b"\xff\xfe", "é".encode()]),
    ),
    "longtext utf8mb4": Kind(
        lambda n: library_column(n, FT.BLOB, length_size=4, **UTF8),
        (enc_string(b'{"a": [1, 2.5]}', 4), enc_string("ü".encode() * 1000, 4)),
    ),
    "char without a charset": Kind(
        lambda n: library_column(n, FT.STRING, max_length=10),
        tuple(enc_string(b, 1) for b in [b"abc", "ü".encode(), b"\xff"]),
    ),
    "char swe7 (no Python codec)": Kind(
        lambda n: library_column(n, FT.STRING, max_length=10, character_set_name="swe7"),
        tuple(enc_string(b, 1) for b in [b"abc", "ü".encode(), b"\xff"]),
    ),
    "binary(4)": Kind(
        lambda n: library_column(n, FT.STRING, max_length=4, **BINARY),
        tuple(enc_string(b, 1) for b in [b"", b"ab", b"\x00\x00\x00\x00", b"\xff\x00\x01\x02"]),
    ),
    "varbinary": Kind(
        lambda n: library_column(n, FT.VARCHAR, max_length=300, **BINARY),
        tuple(enc_string(b, 2) for b in [b"", b"\x00\xff", bytes(range(256))]),
    ),
    **{f"blob({size})": _blob_kind(size) for size in (1, 2, 3, 4)},
    "enum": Kind(
        _labels(FT.ENUM, ["", "a", "b", "ü"], 1), tuple(enc_int(i, 1) for i in (0, 1, 2, 3, 4))
    ),
    "enum(2 bytes)": Kind(
        _labels(FT.ENUM, ["", *(f"l{i}" for i in range(300))], 2),
        tuple(enc_int(i, 2) for i in (0, 1, 300, 301, 65535)),
    ),
    "enum without labels": Kind(_labels(FT.ENUM, [], 1), (enc_int(1, 1),)),
    "set": Kind(
        _labels(FT.SET, ["x", "y", "z"], 1), tuple(enc_int(m, 1) for m in (0, 1, 5, 7, 255))
    ),
    "set(64)": Kind(
        _labels(FT.SET, [f"m{i}" for i in range(64)], 8),
        tuple(enc_int(m, 8) for m in (0, 1, 2**63, 2**64 - 1)),
    ),
    "set without labels": Kind(_labels(FT.SET, [], 1), (enc_int(3, 1),)),
    "date": Kind(
        lambda n: library_column(n, FT.DATE),
        (
            enc_date(2024, 2, 29),
            enc_date(1000, 1, 1),
            enc_date(9999, 12, 31),
            enc_date(0, 0, 0),
            enc_date(2024, 0, 10),
            enc_date(2024, 1, 0),
            enc_date(2023, 2, 29),
            enc_date(2023, 13, 1),
        ),
    ),
    **{f"datetime({f})": _temporal(FT.DATETIME2, f, _datetimes(f)) for f in range(7)},
    **{f"timestamp({f})": _temporal(FT.TIMESTAMP2, f, _timestamps(f)) for f in range(7)},
    **{f"time({f})": _temporal(FT.TIME2, f, _times(f)) for f in range(7)},
    "year": Kind(lambda n: library_column(n, FT.YEAR), tuple(bytes([y]) for y in (0, 1, 124, 255))),
    "geometry": Kind(
        lambda n: library_column(n, FT.GEOMETRY, length_size=4),
        (enc_string(_GEOMETRY, 4), enc_string(b"\x00\x00", 4), enc_string(b"", 4)),
    ),
    "uuid": Kind(
        lambda n: library_column(n, FT.STRING, max_length=16, **BINARY),
        (enc_string(bytes(range(16)), 1), enc_string(b"\x12" * 15, 1), enc_string(b"", 1)),
        "uuid",
    ),
    "inet6": Kind(
        lambda n: library_column(n, FT.STRING, max_length=16, **BINARY),
        (
            enc_string(bytes(10) + b"\xff\xff\x0a\x00\x00\x01", 1),
            enc_string(b"\x20\x01\x0d\xb8", 1),
        ),
        "inet6",
    ),
    "inet4": Kind(
        lambda n: library_column(n, FT.STRING, max_length=4, **BINARY),
        (enc_string(b"\x0a\x00\x00\x01", 1), enc_string(b"\xff", 1)),
        "inet4",
    ),
}

_KEY = library_column  # the key column: an int


def _columns(kind: Kind) -> tuple[list[Any], dict[str, SourceColumn]]:
    columns = [library_column("id", FT.LONG), kind.column("v")]
    hints = {"v": SourceColumn("v", kind.hint, display_width=kind.width)} if kind.hint else {}
    return columns, hints


def _table(names: list[str]) -> tuple[list[Any], dict[str, SourceColumn]]:
    """An int key and one column of each kind in ``names`` (c0, c1, …), with their hints."""
    columns = [library_column("id", FT.LONG)]
    columns += [KINDS[n].column(f"c{i}") for i, n in enumerate(names)]
    hints = {
        f"c{i}": SourceColumn(f"c{i}", KINDS[n].hint or "", display_width=KINDS[n].width)
        for i, n in enumerate(names)
        if KINDS[n].hint
    }
    return columns, hints


def _row(key: int, value: bytes | None) -> bytes:
    return null_bitmap(2, [] if value is not None else [1]) + enc_int(key, 4) + (value or b"")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_value_decodes_as_the_python_path(name: str) -> None:
    kind = KINDS[name]
    columns, hints = _columns(kind)
    for i, value in enumerate((*kind.values, None)):
        python, native = decode_both(columns, Op.CREATE, _row(i, value), hints)
        assert native.agrees(python), f"{name}: value {value!r}: {native} {python}"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_whole_event_of_every_value_in_updates_and_deletes(name: str) -> None:
    kind = KINDS[name]
    columns, hints = _columns(kind)
    values = [v for v in kind.values if decode_both(columns, Op.CREATE, _row(0, v), hints)[0].rows]
    images = [_row(i, v) for i, v in enumerate([*values, None])]
    pairs = b"".join(a + b for a, b in zip(images, reversed(images), strict=True))
    for op, image, v2 in [
        (Op.CREATE, b"".join(images), False),
        (Op.DELETE, b"".join(images), True),
        (Op.UPDATE, pairs, False),
        (Op.UPDATE, pairs, True),
    ]:
        python, native = decode_both(columns, op, image, hints, v2=v2)
        assert python.error is None and native == python, f"{name} {op}"


def test_valid_values_are_what_the_type_mapping_says() -> None:
    """Spot checks of the values themselves (the comparison alone would pass a shared bug)."""
    columns = [
        library_column("id", FT.LONG),
        library_column("d", FT.NEWDECIMAL, precision=10, decimals=3),
        library_column("u", FT.LONGLONG, unsigned=True),
        library_column("b", FT.BIT, bits=10),
        library_column("s", FT.SET, size=1, set_values=["x", "y", "z"]),
        library_column("t", FT.TIME2, fsp=2),
        library_column("y", FT.YEAR),
    ]
    image = (
        null_bitmap(7) + enc_int(1, 4) + enc_decimal(Decimal("-1234567.891"), 10, 3)
        + enc_int(2**64 - 1, 8) + (0x201).to_bytes(2, "big") + enc_int(5, 1)
        + enc_time2(12, 34, 56, 780000, 2) + bytes([0])
    )  # fmt: skip
    row = codec_of(columns).from_image(Op.CREATE, image)
    assert row is not None
    assert row[0][1] == {
        "id": 1, "d": Decimal("-1234567.891"), "u": Decimal(2**64 - 1), "b": b"\x02\x01",
        "s": "x,z", "t": __import__("datetime").time(12, 34, 56, 780000), "y": 0,
    }  # fmt: skip


def test_every_layout_in_one_table_with_nulls() -> None:
    names = sorted(KINDS)
    columns, hints = _table(names)
    count = len(columns)
    images = []
    for r in range(4):
        nulls = [i for i in range(1, count) if (i + r) % 3 == 0]
        values = [KINDS[n].values[r % len(KINDS[n].values)] for n in names]
        ok = [_valid(KINDS[n], v) for n, v in zip(names, values, strict=True)]
        nulls += [i + 1 for i, good in enumerate(ok) if not good]
        body = b"".join(v for i, v in enumerate(values) if i + 1 not in nulls)
        images.append(null_bitmap(count, nulls) + enc_int(r, 4) + body)
    python, native = decode_both(columns, Op.CREATE, b"".join(images), hints, v2=True)
    assert python.error is None and native == python


def _valid(kind: Kind, value: bytes) -> bool:
    columns, hints = _columns(kind)
    return decode_both(columns, Op.CREATE, _row(0, value), hints)[0].error is None


def test_one_byte_values_leave_cpythons_shared_bytes_alone() -> None:
    """bit(n) masks its first byte: never in a one-byte bytes object (CPython shares those)."""
    columns = [library_column("id", FT.LONG), library_column("b", FT.BIT, bits=2)]
    rows = codec_of(columns).from_image(Op.CREATE, null_bitmap(2) + enc_int(1, 4) + b"\xff")
    assert rows == [(None, {"id": 1, "b": b"\x03"})]
    assert bytes([0xFF])[0] == 0xFF


def test_zero_dates_warn_through_the_column_converter(caplog: pytest.LogCaptureFixture) -> None:
    columns = [library_column("id", FT.LONG), library_column("zero_native_day", FT.DATE)]
    codec = codec_of(columns)
    with caplog.at_level(logging.WARNING):
        rows = codec.from_image(Op.CREATE, null_bitmap(2) + enc_int(1, 4) + enc_date(0, 0, 0))
    assert rows == [(None, {"id": 1, "zero_native_day": None})]
    assert "zero_native_day" in caplog.text and "zero date" in caplog.text


@pytest.mark.parametrize("clock", [(24, 0, 0, 0), (838, 59, 59, 0)])
def test_a_time_outside_one_day_raises_the_python_paths_error(
    clock: tuple[int, int, int, int],
) -> None:
    columns = [library_column("id", FT.LONG), library_column("t", FT.TIME2, fsp=0)]
    codec = codec_of(columns)
    image = null_bitmap(2) + enc_int(1, 4) + enc_time2(*clock, 0)
    with pytest.raises(ValueConversionError) as native:
        codec.from_image(Op.CREATE, image)
    python = binlog._parse(row_event(columns, Op.CREATE, image))
    with pytest.raises(ValueConversionError) as expected:
        codec.from_binlog(python[0][1] or {})
    assert str(native.value) == str(expected.value)


def test_negative_time_raises_in_both_paths() -> None:
    columns = [library_column("id", FT.LONG), library_column("t", FT.TIME2, fsp=3)]
    negative = (0x800000 - ((1 << 12) | 1)).to_bytes(3, "big") + (0).to_bytes(2, "big")
    python, native = decode_both(columns, Op.CREATE, null_bitmap(2) + enc_int(1, 4) + negative)
    assert python.error is not None and python.error.startswith("ValueConversionError")
    assert native.error == python.error


def test_truncated_images_raise_at_every_length() -> None:
    names = sorted(KINDS)
    columns, hints = _table(names)
    values = [next(v for v in KINDS[n].values if _valid(KINDS[n], v)) for n in names]
    image = null_bitmap(len(columns)) + enc_int(7, 4) + b"".join(values)
    codec = codec_of(columns, hints)
    assert codec.from_image(Op.CREATE, image) is not None
    for cut in range(1, len(image)):
        with pytest.raises(ValueError, match="truncated"):
            codec.from_image(Op.CREATE, image[:cut])
        with pytest.raises(ValueError, match="truncated"):
            codec.from_image(Op.UPDATE, image + image[:cut])
    assert codec.from_image(Op.CREATE, b"") == []


def test_tables_the_c_code_cannot_read_keep_the_python_path() -> None:
    for column in [
        library_column("j", FT.JSON, length_size=4),  # MySQL's binary JSON
        library_column("dt", FT.DATETIME),  # the pre-5.6 formats
        library_column("ts", FT.TIMESTAMP),
        library_column("t", FT.TIME),
    ]:
        columns = [library_column("id", FT.LONG), column]
        codec = codec_of(columns)
        assert codec.native is None
        event = row_event(columns, Op.CREATE, null_bitmap(2, [1]) + enc_int(5, 4))
        table_map = binlog.TableMap(codec.schema.table, codec.columns, codec.key)
        rows = binlog._rows(event, table_map)
        assert rows.image is not None
        assert decode_rows(codec, rows) == [(None, {"id": 5, column.name: None})]


def test_partial_row_images_are_not_handed_to_the_native_decoder() -> None:
    columns = [library_column("id", FT.LONG), library_column("v", FT.LONG)]
    event = row_event(columns, Op.CREATE, null_bitmap(2) + enc_int(1, 4) + enc_int(2, 4))
    assert binlog._row_image(event) is not None
    event.columns_present_bitmap = b"\x01"  # binlog_row_image=MINIMAL: only the key
    assert binlog._row_image(event) is None


# ---- any bytes: the same rows or both raise; never a crash -----------------------------------

_FUZZ_KINDS = sorted(KINDS)


@settings(max_examples=400, deadline=None)
@given(
    names=st.lists(st.sampled_from(_FUZZ_KINDS), min_size=1, max_size=5),
    op=st.sampled_from([Op.CREATE, Op.UPDATE, Op.DELETE]),
    data=st.data(),
)
def test_arbitrary_bytes_decode_the_same_or_raise_in_both(
    names: list[str], op: Op, data: st.DataObject
) -> None:
    columns, hints = _table(names)
    valid = b"".join(data.draw(st.sampled_from(KINDS[n].values)) for n in names)
    prefix = null_bitmap(len(columns)) + enc_int(1, 4)
    image = data.draw(
        st.one_of(
            st.binary(max_size=80),
            st.just(prefix + valid),
            st.builds(
                lambda junk: prefix + valid[: len(valid) // 2] + junk, st.binary(max_size=20)
            ),
            st.builds(lambda flip: _flip(prefix + valid, flip), st.integers(0, 10_000)),
        )
    )
    python, native = decode_both(columns, op, image, hints)
    assert native.agrees(python), (python, native)


def _flip(image: bytes, at: int) -> bytes:
    flipped = bytearray(image)
    flipped[at % len(flipped)] ^= 0xFF
    return bytes(flipped)


@settings(max_examples=300, deadline=None)
@given(
    precision=st.integers(1, 65),
    scale_part=st.integers(0, 65),
    digits=st.integers(0, 10**65),
    negative=st.booleans(),
)
def test_decimals_of_any_precision_and_scale(
    precision: int, scale_part: int, digits: int, negative: bool
) -> None:
    scale = min(scale_part % (precision + 1), 38)
    with localcontext(prec=200):
        value = Decimal(digits % 10**precision).scaleb(-scale)
        value = -value if negative else value
    columns = [library_column("id", FT.LONG),
               library_column("d", FT.NEWDECIMAL, precision=precision, decimals=scale)]  # fmt: skip
    image = null_bitmap(2) + enc_int(1, 4) + enc_decimal(value, precision, scale)
    python, native = decode_both(columns, Op.CREATE, image)
    assert python.error is None and native == python
    assert native.rows[0][1]["d"] == ("Decimal", value)
