"""The native stream encoder against the Python path: the same records (topic, key, value,
headers) for the same row events, through a real ``Publisher``. The Python path is the
library's rows converted by ``from_binlog``, projected by ``TableShapes`` and written by
``FastTableSerializer``; the native path is ``StreamEncoder.items``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymysqlreplication.constants import FIELD_TYPE as FT

from strangler.connectors.config import TableOptions, TableSelection
from strangler.connectors.mysql import binlog
from strangler.connectors.mysql.native_stream import StreamEncoder
from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.mysql.rows import TableCodec
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.transactions import Transaction
from strangler.connectors.mysql.types import SourceColumn
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.publisher import EncodedRows, Publisher
from strangler.core.events import Op, TableId
from tests.unit.connectors.mysql.my_native_support import (
    codec_of,
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
from tests.unit.connectors.mysql.test_my_connector_units import Producer, Registrar, _source
from tests.unit.connectors.mysql.test_my_native_rows import KINDS, _columns, _row, _table

pytestmark = pytest.mark.unit

T = TableId("db", "t")
POS = BinlogPosition.parse("0-1-42@binlog.000003:1234")
GTID = "0-1-42"


def _publish(
    codec: TableCodec, events: Sequence[tuple[Op, bytes]], native: bool, **source: Any
) -> tuple[list[tuple[Any, ...]], int]:
    """The records of one transaction of ``events`` (op, row images), and how many row
    events the native encoder took."""
    serializer = FastTableSerializer(Registrar(), "ns")
    capture = _source(tables=TableSelection(include=["db.*"]), **source)
    shapes = TableShapes(capture, [T], serializer, lambda t: f"legacy.{t}")
    table_map = binlog.TableMap(codec.schema.table, codec.columns, codec.key)
    rows = []
    for op, image in events:
        found = binlog._rows(row_event(_library(codec), op, image, v2=True), table_map)
        if not native:  # the library's rows, converted by from_binlog
            found = binlog.Rows(found.table_map, found.op, found.parse, None)
        rows.append((codec, found))
    tx = Transaction(GTID, POS, 7_000_000, tuple(rows), {T: codec.schema})
    schemas = shapes.register(tx.schemas)
    encoder = StreamEncoder(shapes, serializer, lambda t: f"legacy.{t}")
    items = list(encoder.items(tx, schemas))
    count = encoder.records
    producer = Producer()
    publisher = Publisher(producer, serializer, lambda t: f"legacy.{t}", "mysql_file_pos")  # type: ignore[arg-type]
    assert POS.file is not None
    publisher.publish(
        items, schemas, POS, gtid=GTID, commit_ts_us=tx.commit_ts_us, tx_id=GTID,
        position=POS.file,
    )  # fmt: skip
    records = [
        (r["topic"], r["key"], r["value"], tuple(r["headers"]), r.get("partition"))
        for r in producer.records
    ]
    assert count == len(records)
    return records, sum(isinstance(i, EncodedRows) for i in items)


_LIBRARY: dict[int, Any] = {}


def _library(codec: TableCodec) -> Any:
    return _LIBRARY[id(codec)]


def _codec(columns: list[Any], hints: dict[str, SourceColumn] | None = None) -> TableCodec:
    codec = codec_of(columns, hints)
    _LIBRARY[id(codec)] = columns
    return codec


def _same(
    codec: TableCodec, events: Sequence[tuple[Op, bytes]], **source: Any
) -> tuple[list[tuple[Any, ...]], int]:
    """Both paths' records, asserted equal (or both raising); the native path's."""
    try:
        python = _publish(codec, events, False, **source)[0]
    except Exception as exc:  # noqa: BLE001 - the native path must raise too (its fallback)
        with pytest.raises(type(exc)):
            _publish(codec, events, True, **source)
        return [], 0
    native, taken = _publish(codec, events, True, **source)
    assert native == python
    return native, taken


_HOOKED = {"inet6", "inet4"}
"""Kinds whose tables keep the Python path (their text comes from Python's ipaddress)."""


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_value_of_every_kind_writes_the_python_paths_records(name: str) -> None:
    kind = KINDS[name]
    codec = _codec(*_columns(kind))
    taken = 0
    for i, value in enumerate((*kind.values, None)):
        for op, image in [
            (Op.CREATE, _row(i, value)),
            (Op.DELETE, _row(i, value)),
            (Op.UPDATE, _row(i, None) + _row(i, value)),
        ]:
            taken += _same(codec, [(op, image)])[1]
    if name not in _HOOKED:
        assert taken > 0, f"{name}: the native encoder took no event"
    else:
        assert taken == 0


def test_key_changes_write_the_old_keys_tombstone_first() -> None:
    columns = [library_column("id", FT.LONG), library_column("n", FT.VARCHAR, max_length=20)]
    codec = _codec(columns)
    n = enc_string(b"x", 1)
    row = null_bitmap(2) + enc_int(1, 4) + n
    moved = null_bitmap(2) + enc_int(2, 4) + n
    records, taken = _same(codec, [(Op.UPDATE, row + moved + moved + moved)])
    assert taken == 1
    assert [(r[2] is None, dict(r[3])["op"]) for r in records] == [
        (True, b"d"), (False, b"u"), (False, b"u"),
    ]  # fmt: skip


def test_excluded_columns_and_a_multi_column_key_override() -> None:
    columns = [
        library_column("id", FT.LONG),
        library_column("secret", FT.VARCHAR, max_length=20, character_set_name="utf8mb4"),
        library_column("a", FT.NEWDECIMAL, precision=10, decimals=2),
        library_column("b", FT.VARCHAR, max_length=20, character_set_name="utf8mb4"),
        library_column("c", FT.DATE),
    ]
    codec = _codec(columns)
    options = {"db.t": TableOptions(key=["b", "a"], exclude_columns=["secret"])}

    def row(key: int, a: str, b: str) -> bytes:
        return (
            null_bitmap(5) + enc_int(key, 4) + enc_string(b"hidden", 1)
            + enc_decimal(Decimal(a), 10, 2) + enc_string(b.encode(), 1) + enc_date(2024, 1, 2)
        )  # fmt: skip

    events = [
        (Op.CREATE, row(1, "-1.50", "k") + row(2, "0.00", "ü")),
        (Op.UPDATE, row(1, "-1.50", "k") + row(3, "-1.50", "k")),  # the key stays
        (Op.UPDATE, row(2, "0.00", "ü") + row(2, "9.99", "ü")),  # the key changes
        (Op.DELETE, row(1, "-1.50", "k")),
    ]
    records, taken = _same(codec, events, overrides=options)
    assert taken == 4 and len(records) == 6
    assert all(b"hidden" not in (r[2] or b"") for r in records)


def test_declined_rows_go_the_python_path_in_stream_order() -> None:
    """A zero date (warned, null), a NULL key override column, a TIME outside a day (raises)."""
    columns = [library_column("id", FT.LONG), library_column("d", FT.DATETIME2, fsp=0)]
    codec = _codec(columns)
    good = null_bitmap(2) + enc_int(1, 4) + enc_datetime2((2024, 1, 2, 3, 4, 5), 0, 0)
    zero = null_bitmap(2) + enc_int(2, 4) + enc_datetime2((0, 0, 0, 0, 0, 0), 0, 0)
    records, taken = _same(codec, [(Op.CREATE, good), (Op.CREATE, zero), (Op.CREATE, good)])
    assert taken == 2 and len(records) == 3
    keyed = [library_column("id", FT.LONG), library_column("k", FT.LONG)]
    codec = _codec(keyed)
    null_key = null_bitmap(2, [1]) + enc_int(1, 4)
    with pytest.raises(Exception, match="NULL"):
        _publish(codec, [(Op.CREATE, null_key)], True, overrides={"db.t": TableOptions(key=["k"])})
    timed = [library_column("id", FT.LONG), library_column("t", FT.TIME2, fsp=0)]
    codec = _codec(timed)
    _same(codec, [(Op.CREATE, null_bitmap(2) + enc_int(1, 4) + enc_time2(25, 0, 0, 0, 0))])


def test_every_kind_in_one_table_with_nulls_in_one_event() -> None:
    names = sorted(n for n in KINDS if n not in _HOOKED)
    columns, hints = _table(names)
    codec = _codec(columns, hints)
    count = len(columns)
    images = []
    for r in range(6):
        values = [KINDS[n].values[r % len(KINDS[n].values)] for n in names]
        nulls = [i for i in range(1, count) if (i + r) % 4 == 0]
        nulls += [i + 1 for i, (n, v) in enumerate(zip(names, values, strict=True)) if _odd(n, v)]
        body = b"".join(v for i, v in enumerate(values) if i + 1 not in nulls)
        images.append(null_bitmap(count, nulls) + enc_int(r, 4) + body)
    records, taken = _same(codec, [(Op.CREATE, b"".join(images))])
    assert taken == 1 and len(records) == 6


def _odd(name: str, value: bytes) -> bool:
    """Values the Python path refuses or writes as null (one would decline the whole event)."""
    codec = _codec(*_columns(KINDS[name]))
    return _same(codec, [(Op.CREATE, _row(0, value))])[1] == 0


def test_timestamps_and_times_are_microseconds() -> None:
    columns = [
        library_column("id", FT.LONG),
        library_column("ts", FT.TIMESTAMP2, fsp=6),
        library_column("t", FT.TIME2, fsp=3),
    ]
    codec = _codec(columns)
    image = (
        null_bitmap(3) + enc_int(1, 4) + enc_timestamp2(1_700_000_000, 123456, 6)
        + enc_time2(23, 59, 59, 999000, 3)
    )  # fmt: skip
    records, taken = _same(codec, [(Op.CREATE, image)])
    assert taken == 1
    value = records[0][2]
    assert value.endswith(
        b"\x02" + _zigzag(1_700_000_000_123_456) + b"\x02" + _zigzag(86_399_999_000)
    )


def _zigzag(n: int) -> bytes:
    z, out = n << 1, bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    return bytes([*out, z])


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4),
    op=st.sampled_from([Op.CREATE, Op.UPDATE, Op.DELETE]),
    data=st.data(),
)
def test_any_bytes_write_the_python_paths_records_or_raise_in_both(
    names: list[str], op: Op, data: st.DataObject
) -> None:
    columns, hints = _table(names)
    codec = _codec(columns, hints)
    prefix = null_bitmap(len(columns)) + enc_int(data.draw(st.integers(0, 3)), 4)
    valid = prefix + b"".join(data.draw(st.sampled_from(KINDS[n].values)) for n in names)
    image = data.draw(
        st.one_of(
            st.just(valid),
            st.binary(max_size=60),
            st.builds(lambda junk: valid[: len(valid) // 2] + junk, st.binary(max_size=20)),
            st.builds(lambda at: _flip(valid, at), st.integers(0, 10_000)),
        )
    )
    if op is Op.UPDATE:
        image = image + data.draw(st.sampled_from([valid, image]))
    _same(codec, [(op, image)])


def _flip(image: bytes, at: int) -> bytes:
    flipped = bytearray(image)
    flipped[at % len(flipped)] ^= 0xFF
    return bytes(flipped)
