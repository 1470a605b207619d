"""The native COPY-text-to-Avro encoder writes exactly the Python path's bytes
(``parse_copy_rows`` + ``RowDecoder`` + ``FastTableSerializer``), and declines what it does not
parse the same way: those rows then take the Python path, whose result or error is today's."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.connectors.postgres.copytext import parse_copy_rows
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Oid,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    TupleData,
)
from strangler.connectors.postgres.native import NativeTable, native_table
from strangler.connectors.postgres.rows import RowDecoder, table_schema
from strangler.core.schema import TableSchema

pytestmark = pytest.mark.unit

TOPIC = "t"


class Registrar:
    def register(self, subject: str, schema: Any) -> int:
        return 0x01020304 if subject.endswith("-key") else 0x0A0B0C0D


def numeric(precision: int, scale: int) -> tuple[int, int]:
    return 1700, ((precision << 16) | (scale & 0x7FF)) + 4


TYPES: dict[str, tuple[int, int]] = {
    "smallint": (21, -1), "integer": (23, -1), "bigint": (20, -1), "oid": (26, -1),
    "boolean": (16, -1), "real": (700, -1), "double": (701, -1), "text": (25, -1),
    "varchar": (1043, 14), "char": (1042, 9), "name": (19, -1), "json": (114, -1),
    "jsonb": (3802, -1), "numeric_any": (1700, -1), "numeric(12,3)": numeric(12, 3),
    "numeric(40,0)": numeric(40, 0), "numeric(30,20)": numeric(30, 20),
    "numeric(2,-3)": numeric(2, -3), "date": (1082, -1), "time": (1083, -1),
    "timestamp": (1114, -1), "timestamptz": (1184, -1), "uuid": (2950, -1), "bytea": (17, -1),
    "interval": (1186, -1), "int[]": (1007, -1),
}  # fmt: skip


def relation(*kinds: str, key: int = 1) -> Relation:
    """A relation with columns c0, c1… of ``kinds``; the first ``key`` columns are the key."""
    columns = tuple(
        RelationColumn(i < key, f"c{i}", Oid(TYPES[kind][0]), TYPES[kind][1])
        for i, kind in enumerate(kinds)
    )
    return Relation(None, Oid(1), "public", "tbl", ReplicaIdentity.DEFAULT, columns)


def copy_text(rows: Sequence[tuple[str | None, ...]]) -> bytes:
    """``rows`` as the server's COPY text (escaped; NULL as ``\\N``)."""
    escape = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    lines = [
        "\t".join("\\N" if v is None else "".join(escape.get(ch, ch) for ch in v) for v in row)
        for row in rows
    ]
    return "".join(line + "\n" for line in lines).encode()


class Paths:
    """The Python path and the native one over one relation and schema."""

    def __init__(self, rel: Relation, schema: TableSchema | None = None) -> None:
        self.relation = rel
        self.schema = schema or table_schema(rel, {}, not_null=frozenset())
        self.serializer = FastTableSerializer(Registrar(), "test")
        native = native_table(rel, self.schema, {}, self.serializer, TOPIC)
        assert native is not None, "the table should take the native path"
        self.native: NativeTable = native

    def python(self, data: bytes) -> list[tuple[bytes, bytes | None]]:
        decode = RowDecoder({})
        out = []
        for text in parse_copy_rows(data):
            row = decode(self.relation, TupleData(text))
            key = self.serializer.key(TOPIC, self.schema, row)
            out.append((key, self.serializer.value(TOPIC, self.schema, row)))
        return out

    def native_records(self, data: bytes) -> list[tuple[bytes, bytes | None]]:
        chunk = self.native.encode(data)
        return list(zip(chunk.keys, chunk.values, strict=True))

    def declined(self, data: bytes) -> list[int]:
        return self.native._encoder.encode(data)[2]

    def check(self, rows: Sequence[tuple[str | None, ...]], *, all_native: bool = True) -> None:
        data = copy_text(rows)
        if all_native:
            assert self.declined(data) == []
        assert self.native_records(data) == self.python(data)

    def check_declined(self, row: tuple[str | None, ...]) -> None:
        """The row is declined, and the result (or error) is the Python path's."""
        data = copy_text([row])
        assert self.declined(data) == [0]
        self.same_outcome(data)

    def same_outcome(self, data: bytes) -> None:
        """The native path writes the Python path's records, or raises its error."""
        try:
            expected: Any = self.python(data)
        except Exception as exc:  # noqa: BLE001 - compared with the native path's error
            with pytest.raises(type(exc)):
                self.native_records(data)
        else:
            assert self.native_records(data) == expected


NATIVE: dict[str, list[str]] = {
    "smallint": ["0", "1", "-1", "32767", "-32768", "63", "64", "-64", "-65"],
    "integer": ["0", "2147483647", "-2147483648", "8191", "8192", "-8193", "007"],
    "bigint": ["9223372036854775807", "-9223372036854775808", "1099511627776", "-0"],
    "oid": ["0", "4294967295"],
    "boolean": ["t", "f"],
    "real": ["0", "-0", "1.5", "3.4028235e+38", "1e-45", "1.1754944e-38", "0.1", "NaN",
             "Infinity", "-Infinity", "123456.79"],
    "double": ["0", "-0", "0.1", "1.7976931348623157e+308", "5e-324", "-2.2250738585072014e-308",
               "NaN", "Infinity", "-Infinity", "3.141592653589793", "1e+100"],
    "text": ["", "a", "Grüße ✓", "日本語", "😀 emoji", "tab\there", "new\nline", "back\\slash",
             "\\N", "cr\rx", "x" * 20_000, "\\x41", "N"],
    "varchar": ["", "abc"], "char": ["abc      "], "name": ["pg_class"],
    "json": ['{"a": 1, "b": "x\\ny"}', "[]"], "jsonb": ['{"k": [1, 2.5, null]}'],
    "numeric_any": ["NaN", "Infinity", "-1.5", "1e5"],
    "numeric(12,3)": ["0.000", "1.500", "-1.500", "127.000", "128.000", "-128.000", "-129.000",
                      "-0.001", "0.001", "999999999.999", "-999999999.999", "32767.999",
                      "0.127", "-0.128", "0.255", "0.256", "-0.256", "8388.607", "-8388.608"],
    "numeric(40,0)": ["0", "9999999999999999999999999999999999999999",
                      "-9999999999999999999999999999999999999999",
                      "18446744073709551615", "18446744073709551616", "-18446744073709551616",
                      "-9223372036854775808", "9223372036854775807", "4294967296", "-4294967296"],
    "numeric(30,20)": ["0.00000000000000000000", "0.00000000000000000001",
                       "-0.00000000000000000001", "1234567890.12345678901234567890",
                       "-1234567890.12345678901234567890", "0.00000010000000000000"],
    "numeric(2,-3)": ["0", "12000", "-99000"],
    "date": ["1970-01-01", "1969-12-31", "2000-02-29", "1900-03-01", "0001-01-01", "9999-12-31",
             "2024-02-29", "1582-10-04"],
    "time": ["00:00:00", "23:59:59.999999", "12:30:01.000005", "24:00:00", "01:02:03.5",
             "10:00:00.12"],
    "timestamp": ["1970-01-01 00:00:00", "2024-02-29 23:59:59.999999", "0001-01-01 00:00:00",
                  "9999-12-31 23:59:59.999999", "1969-12-31 23:59:59.5", "2000-01-01 12:00:00.1"],
    "timestamptz": ["1970-01-01 00:00:00+00", "2024-02-29 23:59:59.999999+00",
                    "1900-01-01 00:00:01+05:30", "2010-06-01 12:00:00-08",
                    "1890-01-01 00:00:00+00:17:30", "0001-01-01 05:00:00+05",
                    "9999-12-31 18:00:00-05", "2024-03-10 02:30:00.25-03:30"],
    "uuid": ["0bd3a0a4-4b1e-4cc1-9bd0-6b0c1b64ff31", "00000000-0000-0000-0000-000000000000",
             "ffffffff-ffff-ffff-ffff-ffffffffffff"],
    "bytea": ["\\x", "\\x00ff", "\\x0AfF", "\\x" + "ab" * 10_000],
}  # fmt: skip

DECLINED: dict[str, list[str]] = {
    "integer": ["+5", " 5", "1_000", "12a", "", "9223372036854775808"],
    "bigint": ["9223372036854775808", "-9223372036854775809", "99999999999999999999"],
    "boolean": ["true", "T", ""],
    "real": ["abc", "", "1,5", "1e+39"],
    "double": ["abc", "", "0x10", "1 "],
    "numeric(12,3)": ["NaN", "Infinity", "1.2345", "1e5", "-0.000", "1.", ".5", "--1", "", "1.2.3"],
    "date": ["infinity", "-infinity", "10000-01-01", "2001-02-29", "0000-01-01",
             "2000-01-01 BC", "2000-13-01", "2000-1-01", "20000101"],
    "time": ["25:00:00", "12:60:00", "12:00:60", "12:00", "12:00:00.1234567", "1:00:00"],
    "timestamp": ["infinity", "-infinity", "0001-01-01 00:00:00 BC", "10000-01-01 00:00:00",
                  "2024-01-01T00:00:00", "2024-01-01 24:00:00", "2024-01-01 00:00:00.1234567"],
    "timestamptz": ["0001-01-01 00:00:00+05", "9999-12-31 23:00:00-05", "2024-01-01 00:00:00+0530",
                    "2024-01-01 00:00:00 +00", "2024-01-01 00:00:00+24"],
    "uuid": ["0BD3A0A4-4B1E-4CC1-9BD0-6B0C1B64FF31", "0bd3a0a44b1e4cc19bd06b0c1b64ff31",
             "{0bd3a0a4-4b1e-4cc1-9bd0-6b0c1b64ff31}", "zzz"],
    "bytea": ["\\x0", "\\xzz", "abc\\\\000"],
    "text": ["\udcff"],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(NATIVE))
def test_native_bytes_equal_the_python_path(kind: str) -> None:
    paths = Paths(relation("bigint", kind))
    values = [*NATIVE[kind], None]
    paths.check([(str(i), v) for i, v in enumerate(values)])


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, ts in DECLINED.items() for t in ts])
def test_declined_values_take_the_python_path(kind: str, text: str) -> None:
    if kind == "text":  # not valid UTF-8 in the COPY data itself
        data = b"1\t\xff\xfe\n"
        paths = Paths(relation("bigint", kind))
        assert paths.declined(data) == [0]
        with pytest.raises(Exception):  # noqa: B017 - the Python path's DecodeError
            paths.native_records(data)
        return
    Paths(relation("bigint", kind)).check_declined(("1", text))


def test_every_type_in_one_row_with_keys_in_key_order() -> None:
    kinds = [k for k in NATIVE if k != "numeric_any"]
    rel = relation("integer", "text", *kinds, key=2)
    full = table_schema(rel, {}, not_null=frozenset({"c5"}), key=("c1", "c0"))
    paths = Paths(rel, full)
    rows = [
        tuple([str(n), f"k{n}", *(NATIVE[k][n % len(NATIVE[k])] for k in kinds)]) for n in range(40)
    ]
    paths.check(rows)
    nulls = [tuple([str(n), "k", *(None for _ in kinds)]) for n in range(3)]
    assert paths.declined(copy_text(nulls)) == [0, 1, 2]  # c5 is NOT NULL
    paths.same_outcome(copy_text(nulls))  # the Python path's error


def test_excluded_columns_and_unsupported_excluded_types() -> None:
    rel = relation("bigint", "text", "int[]", "date", "interval")
    full = table_schema(rel, {}, not_null=frozenset())
    schema = TableSchema(full.table, (full.columns[0], full.columns[1]), full.key)
    paths = Paths(rel, schema)
    paths.check([("1", "a", "{1,2}", "2020-01-01", "P1D"), ("2", None, None, None, None)])
    # an excluded column of a handled type is still parsed: a bad value gets today's error
    paths.check_declined(("3", "b", "{}", "infinity", "P1D"))


def test_tables_the_native_path_does_not_take() -> None:
    serializer = FastTableSerializer(Registrar(), "test")
    for kinds in [("bigint", "int[]"), ("bigint", "interval")]:
        rel = relation(*kinds)
        schema = table_schema(rel, {}, not_null=frozenset())
        assert native_table(rel, schema, {}, serializer, TOPIC) is None
    keyless = relation("bigint", key=0)
    assert native_table(keyless, table_schema(keyless, {}), {}, serializer, TOPIC) is None


def test_null_key_and_not_null_columns_decline_to_the_python_error() -> None:
    rel = relation("bigint", "text")
    paths = Paths(rel, table_schema(rel, {}, not_null=frozenset({"c1"})))
    paths.check_declined((None, "x"))
    paths.check_declined(("1", None))


def test_copy_escapes_in_the_raw_data() -> None:
    paths = Paths(relation("bigint", "text", "bytea", "integer"))
    data = (
        b"1\ta\\tb\\nc\\\\d\\r\\b\\f\\v\t\\\\x00ff\t\\061\\062\n"
        b"2\t\\101\\x42\\N-literal\\q\\x\\xz\t\\\\x\t\\x35\n"
        b"3\t\\303\\251t\\xc3\\xa9\t\\\\x\t7\n"  # escapes spelling UTF-8 bytes
    )
    assert paths.declined(data) == []
    assert paths.native_records(data) == paths.python(data)
    paths.check_declined(("4", "x", "\\x\\x", "1"))  # bad hex: the Python path's error


@pytest.mark.parametrize(
    "data",
    [
        b"1\tx",  # truncated: no newline at the end
        b"1\tx\n2",
        b"1\tx\tsurplus\n",  # wrong field counts
        b"1\n",
        b"\n",
        b"1\t\\",  # a lone backslash, truncated
        b"1\t\\\n",
        b"x1\ty\n",  # garbage digits in the key
        b"1\t\xff\n",  # not UTF-8
        b"1\t\\777\\377\n",
        b"1\t\\8\n",
    ],
)
def test_malformed_input_raises_a_python_exception(data: bytes) -> None:
    Paths(relation("bigint", "text")).same_outcome(data)


def test_malformed_input_to_every_codec_never_crashes() -> None:
    kinds = [k for k in NATIVE if k != "numeric_any"]
    paths = Paths(relation("bigint", *kinds))
    for junk in [b"", b"\\", b"-", b".", b"9" * 400, b"\\x", b"\xf0\x9f", b"1:2:3", b"-.e"]:
        for i in range(len(kinds)):
            fields = [b"1"] + [b"\\N"] * len(kinds)
            fields[i + 1] = junk
            line = b"\t".join(fields) + b"\n"
            keys, values, declined = paths.native._encoder.encode(line)
            assert len(keys) == len(values) == 1
            assert declined in ([], [0])


def test_encoder_configuration_is_checked() -> None:
    from strangler.connectors.postgres._speedups import Encoder

    with pytest.raises(ValueError):
        Encoder([(99, 0)], [], [], 1, 1)
    with pytest.raises(ValueError):
        Encoder([(1, 0)], [(3, False)], [0], 1, 1)
    with pytest.raises(TypeError):
        Encoder([1], [], [], 1, 1)  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Encoder([(0, 0)], [(0, False)], [0], 1, 1)
    with pytest.raises(TypeError):
        Encoder([(1, 0)], [], [0], 1, 1).encode("text")  # type: ignore[arg-type]


# ---- property-based: random values in the server's text forms ------------------------------

_INT64 = st.integers(-(2**63), 2**63 - 1)
_TEXTS = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def _timestamp_text(value: datetime, offset_minutes: int) -> str:
    local = value + timedelta(minutes=offset_minutes)
    text = f"{local.year:04d}-{local:%m-%d %H:%M:%S}"
    if local.microsecond:
        text += f".{local.microsecond:06d}".rstrip("0")
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return text + f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _INT64,
            _TEXTS,
            st.one_of(st.none(), st.floats(allow_nan=False, width=32)),
            st.floats(allow_nan=False),
            st.decimals(
                min_value=Decimal("-99999999999.99999"),
                max_value=Decimal("99999999999.99999"),
                places=5,
                allow_nan=False,
            ),
            st.dates(),
            st.datetimes(
                min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.none()
            ),
            st.integers(-15 * 60, 15 * 60),
            st.one_of(st.none(), st.binary(max_size=20)),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_random_rows_equal_the_python_path(rows: list[tuple[Any, ...]]) -> None:
    paths = Paths(
        relation(
            "bigint", "text", "real", "double", "numeric(30,20)", "date", "timestamptz",
            "timestamp", "bytea",
        )
    )  # fmt: skip
    texts: list[tuple[str | None, ...]] = []
    for n, (i, text, real, double, dec, day, stamp, offset, blob) in enumerate(rows):
        texts.append((
            str(i + n if i + n < 2**63 else n), text,
            None if real is None else repr(real), repr(double),
            f"{dec:.20f}", f"{day.year:04d}-{day:%m-%d}",
            _timestamp_text(stamp.replace(tzinfo=UTC), offset),
            _timestamp_text(stamp, 0)[:-3], None if blob is None else "\\x" + blob.hex(),
        ))  # fmt: skip
    paths.check(texts)


def test_float_bytes_are_struct_packs() -> None:
    paths = Paths(relation("bigint", "real", "double"))
    chunk = paths.native.encode(b"1\t0.1\t0.1\n")
    assert chunk.values[0] is not None
    assert chunk.values[0].endswith(
        b"\x02" + struct.pack("<f", 0.1) + b"\x02" + struct.pack("<d", 0.1)
    )
    assert date(1970, 1, 1).toordinal() == 719163  # the epoch the date codec counts from


def test_encode_values_takes_pgoutput_text_tuples() -> None:
    """The streaming entry: one row as unescaped text values, as TupleData carries them."""
    kinds = [k for k in NATIVE if k != "numeric_any"]
    paths = Paths(relation("bigint", *kinds))
    decode = RowDecoder({})
    for n in range(30):
        values = (str(n), *(NATIVE[k][n % len(NATIVE[k])] if n % 7 else None for k in kinds))
        row = decode(paths.relation, TupleData(values))
        expected = (paths.serializer.key(TOPIC, paths.schema, row),
                    paths.serializer.value(TOPIC, paths.schema, row))  # fmt: skip
        assert paths.native._encoder.encode_values(values) == expected
    encode = paths.native._encoder.encode_values
    ok = ("1", *(None for _ in kinds))
    assert encode(ok) is not None
    for declined in [ok[:-1], (*ok[:-1], b"\\x00"), (*ok[:-1], UNCHANGED_TOAST), ("x", *ok[1:])]:
        assert encode(declined) is None
    assert encode(("1", *ok[1:-2], "\udcff", None)) is None  # not UTF-8 encodable


_FUZZ_KINDS = ["integer", "boolean", "real", "text", "numeric(12,3)", "date", "time",
               "timestamptz", "uuid", "bytea"]  # fmt: skip
_ALPHABET = list(b"0123456789-+.:eE xNaf\\tT\xc3\xa9\xff")


def _mutated(value: bytes, at: int, byte: int, how: int) -> bytes:
    """``value`` with one byte inserted, deleted or replaced (a near miss of a valid text)."""
    at = at % (len(value) + 1)
    return value[:at] + bytes([byte] if how else []) + value[at + (how != 1) :]


def _field(kind: str) -> st.SearchStrategy[bytes]:
    valid = st.sampled_from([v.encode() for v in NATIVE[kind][:12]])
    near = st.builds(_mutated, valid, st.integers(0, 40), st.sampled_from(_ALPHABET),
                     st.integers(0, 2))  # fmt: skip
    noise = st.lists(st.sampled_from(_ALPHABET), max_size=14).map(bytes)
    return st.one_of(st.just(b"\\N"), valid, near, noise, st.binary(max_size=12))


def _one_odd(i: int, kind: str) -> st.SearchStrategy[tuple[bytes, ...]]:
    """Rows with NULL in every column but ``i`` (so that most are taken natively)."""
    null = b"\\N"
    return _field(kind).map(lambda f: (null,) * i + (f,) + (null,) * (len(_FUZZ_KINDS) - i - 1))


_ROW = st.one_of(
    st.tuples(*(_field(k) for k in _FUZZ_KINDS)),
    *(_one_odd(i, k) for i, k in enumerate(_FUZZ_KINDS)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=5))
def test_random_bytes_get_the_python_paths_outcome(rows: list[tuple[bytes, ...]]) -> None:
    """Fuzz: whatever the bytes, the native path writes what the Python path writes or raises
    its error; it never accepts a value the Python path refuses."""
    paths = Paths(relation("bigint", *_FUZZ_KINDS))
    lines = [b"\t".join([b"%d" % n, *(f.replace(b"\t", b"").replace(b"\n", b"") for f in row)])
             for n, row in enumerate(rows)]  # fmt: skip
    for line in lines:  # row by row: of several bad rows, either path may name another first
        paths.same_outcome(line + b"\n")
    paths.declined(b"".join(line + b"\n" for line in lines))  # several rows: no crash
