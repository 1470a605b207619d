"""The record decoder's native common case gives the ChangeRecord the Python path gives, and
leaves everything else (bad records included) to the Python path, so dead letters stay as
they were."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strangler.core.events import Op
from strangler.materializers import _speedups
from strangler.materializers.applier import Applier
from strangler.materializers.config import TopicConfig, ViewConfig
from strangler.materializers.decoding import _OPS, RecordDecoder, encode
from strangler.materializers.positions import PositionKind
from strangler.materializers.records import TRUNCATE_KEY, BadRecord, ChangeRecord
from strangler.materializers.schemas import StaticSchemas
from strangler.materializers.sqlite_target import SqliteTarget
from tests.unit.materializers.test_native_reader import _zigzag

pytestmark = pytest.mark.unit

PG, MYSQL = "shop.public.items", "shop.mysql.items"
KEY: dict[str, Any] = {"type": "record", "name": "K", "fields": [{"name": "id", "type": "long"}]}
VALUE: dict[str, Any] = {
    "type": "record",
    "name": "V",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    ],
}
NESTED: dict[str, Any] = {
    "type": "record",
    "name": "N",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
SCHEMAS = StaticSchemas({1: KEY, 2: VALUE, 3: NESTED})
TOPICS = [
    TopicConfig(topic=PG),
    TopicConfig(topic=MYSQL, position_kind=PositionKind.MYSQL_FILE_POS),
]


class Msg:
    """What the decoder reads of a confluent_kafka.Message."""

    def __init__(
        self, key: Any, value: Any, headers: Any, topic: Any = PG, partition: Any = 3
    ) -> None:
        self._k, self._v, self._h, self._t, self._p = key, value, headers, topic, partition

    def topic(self) -> Any:
        return self._t

    def partition(self) -> Any:
        return self._p

    def offset(self) -> int:
        return 17

    def key(self) -> Any:
        return self._k

    def value(self) -> Any:
        return self._v

    def headers(self) -> Any:
        return self._h


def key(n: int) -> bytes:
    return encode(1, fastavro.parse_schema(KEY), {"id": n})


def value(n: int, name: str | None = "x", at: Any = None) -> bytes:
    return encode(2, fastavro.parse_schema(VALUE), {"id": n, "name": name, "at": at})


NESTED_VALUE = encode(3, fastavro.parse_schema(NESTED), {"id": 1, "tags": ["a"]})


def both(message: Msg) -> tuple[Any, Any, Any]:
    """(native result or None, what ``decode`` gives, what the Python path alone gives)."""
    native, python = RecordDecoder(TOPICS, SCHEMAS), RecordDecoder(TOPICS, SCHEMAS)
    fast = native._native.decode(message)
    return fast, native.decode(message), python._decode_python(message)


COMMON = [
    Msg(key(1), value(1), [("op", b"u"), ("position", b"0/10")]),
    Msg(key(2), value(2, None), [("op", b"c"), ("position", b"16/B374D848")]),
    Msg(key(3), value(3, "ü"), [("op", "r"), ("position", b"FFFFFFFF/FFFFFFFF")]),
    Msg(key(4), None, [("position", b"0/11")]),
    Msg(key(5), value(5), [("position", b"0/12"), ("other", b"x"), ("op", None)]),
    Msg(key(6), None, [("op", b"d"), ("position", b"0/1"), ("position", b"0/2")]),
    Msg(TRUNCATE_KEY, b"0/12", [("op", b"t"), ("position", b"0/12")]),
    Msg(key(7), value(7), [("op", b"u"), ("position", b"mysql-bin.000003:1234")], MYSQL),
    Msg(key(8), value(8), [("op", b"u"), ("position", "0/9")]),  # text, not bytes
    Msg(key(9), value(9), [("op", b"u"), ("position", b"0x1/0")]),  # int() reads it
    Msg(key(10), value(10), [("position", b"42"), ("position_kind", b"integer")]),
    Msg(key(11), value(11), [("position", b"0/1")], PG, None),
    Msg(key(12), NESTED_VALUE, [("position", b"0/1")]),
    Msg(key(13), value(13), {"op": b"u", "position": b"0/1"}),
]
BAD = [
    Msg(key(1), value(1), []),  # no position
    Msg(key(1), value(1), None),
    Msg(b"\x01abcd", value(1), [("position", b"0/1")]),  # not Confluent framing
    Msg(encode(9, fastavro.parse_schema(KEY), {"id": 1}), None, [("position", b"0/1")]),
    Msg(key(1), value(1), [("position", b"0/1"), ("op", b"x")]),
    Msg(key(1), value(1), [("position", b"0/1"), ("op", [1])]),  # unhashable
    Msg(key(1)[:5] + b"\xff", None, [("position", b"0/1")]),  # cut short
    Msg(key(1) + b"zz", None, [("position", b"0/1")]),  # bytes left over
    Msg(key(1), value(1)[:-1], [("position", b"0/1")]),
    Msg(None, value(1), [("position", b"0/1")]),  # a change without a key
    Msg(key(1), value(1), [("position", b"zz/1")]),
    Msg(key(1), value(1), [("position", b"123456789/1")]),
    Msg(key(1), value(1), [("position", b"0/1"), ("position_kind", b"nope")]),
    Msg(key(1), value(1), [("position", b"0/1")], "not.followed"),
    Msg(key(1) + b"\xff" * 10, None, [("position", b"0/1")]),
    Msg(key(1)[:5] + b"\xff" * 9 + b"\x7f", None, [("position", b"0/1")]),  # > 64 bits
    Msg(key(1), value(1)[:-9] + b"\x02" + b"\xff" * 7 + b"\x7f", [("position", b"0/1")]),
    Msg(bytearray(key(1)), None, [("position", b"0/1")]),
]


@pytest.mark.parametrize("message", COMMON, ids=range(len(COMMON)))
def test_common_cases_as_the_python_path(message: Msg) -> None:
    fast, got, want = both(message)
    assert isinstance(want, ChangeRecord) and got == want
    assert fast is None or fast == want


def test_the_common_case_is_native() -> None:
    for message in COMMON[:9]:
        assert both(message)[0] is not None


@pytest.mark.parametrize("message", BAD, ids=range(len(BAD)))
def test_bad_records_take_the_python_path(message: Msg) -> None:
    fast, got, want = both(message)
    assert fast is None and isinstance(want, BadRecord) and got == want


def test_decode_all_is_decode_of_each() -> None:
    messages = COMMON + BAD + COMMON
    decoder = RecordDecoder(TOPICS, SCHEMAS)
    assert decoder.decode_all(messages) == [
        RecordDecoder(TOPICS, SCHEMAS).decode(m) for m in messages
    ]
    assert decoder.decode_all(()) == []


headers = st.lists(
    st.tuples(
        st.sampled_from(["op", "position", "position_kind", "x"]),
        st.one_of(
            st.none(),
            st.sampled_from([b"u", b"d", b"t", b"c", "u", b"0/1", b"A/B", b"integer", b"?"]),
            st.binary(max_size=12),
        ),
    ),
    max_size=5,
)
payloads = st.one_of(
    st.none(),
    st.sampled_from([key(1), value(2, "y"), NESTED_VALUE, TRUNCATE_KEY]),
    st.binary(max_size=30).map(lambda b: b"\x00\x00\x00\x00" + b),
    st.binary(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(payloads, payloads, headers, st.sampled_from([PG, MYSQL]))
def test_anything_decodes_as_the_python_path(
    raw_key: Any, raw_value: Any, header_list: Any, topic: str
) -> None:
    fast, got, want = both(Msg(raw_key, raw_value, header_list, topic))
    assert got == want
    assert fast is None or fast == want


def test_a_corrupt_record_becomes_a_dead_letter(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    view = ViewConfig.model_validate(
        {"name": "v", "target": {"sqlite": {"path": str(db)}}, "topics": [{"topic": PG}]}
    )
    target = SqliteTarget(db)
    decoder = RecordDecoder(view.topics, SCHEMAS)
    far = 253402300800000000  # year 10000: beyond what a datetime holds
    bad_time = encode(2, fastavro.parse_schema(VALUE), {"id": 2, "name": "b", "at": None})
    bad_time = bad_time[:-1] + b"\x02" + _zigzag(far)
    batch = decoder.decode_all(
        [
            Msg(key(1), value(1), [("position", b"0/1")]),
            Msg(key(2), bad_time, [("position", b"0/2")]),
            Msg(key(3), value(3)[:-2], [("position", b"0/3")]),
        ]
    )
    Applier(view, target).apply(batch)
    rows = target.conn.execute('SELECT "id", "name" FROM "items"').fetchall()
    dead = target.conn.execute('SELECT "error" FROM "_strangler_dead_letters"').fetchall()
    assert rows == [(1, "x")]
    assert [e for (e,) in dead] == [
        "cannot decode: OverflowError('date value out of range')",
        dead[1][0],
    ] and dead[1][0].startswith("cannot decode:")


def test_a_dropped_decoder_is_collected() -> None:
    """The C decoder holds bound methods of its RecordDecoder: the cycle must be collectable."""
    decoder = RecordDecoder(TOPICS, SCHEMAS)
    decoder.decode_all(COMMON)
    ref = weakref.ref(decoder)
    del decoder
    gc.collect()
    assert ref() is None


@dataclass(slots=True)
class _Seen:
    """A record type with a ``__post_init__``: the decoder must call it, not fill its slots."""

    topic: Any
    partition: Any
    offset: Any
    op: Any
    position: Any
    key: Any
    value: Any
    key_schema: Any = None
    value_schema: Any = None
    seen: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.seen = True


def test_native_records_skip_init_and_the_collector() -> None:
    decoder = RecordDecoder(TOPICS, SCHEMAS)
    fast = decoder._native.decode(COMMON[0])
    assert type(fast) is ChangeRecord and not gc.is_tracked(fast)
    assert fast == decoder._decode_python(COMMON[0])
    assert gc.is_tracked(decoder._decode_python(COMMON[0]))  # what __init__ gives
    native = _speedups.Decoder(
        {PG: True, MYSQL: False}, _OPS, Op.UPDATE, Op.DELETE, Op.TRUNCATE, _Seen,
        decoder._native_schema, decoder._position,
    )  # fmt: skip
    other = native.decode(COMMON[0])
    assert type(other) is _Seen and other.seen and other.key == fast.key
