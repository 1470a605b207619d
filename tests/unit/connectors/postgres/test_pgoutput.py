"""Golden-byte tests for the pgoutput decoder: bytes built by hand from the protocol docs."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.postgres.errors import DecodeError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    DataType,
    Delete,
    Insert,
    LogicalMessage,
    Oid,
    OldKind,
    Origin,
    PgOutputMessage,
    PgTimestamp,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Update,
)
from strangler.connectors.postgres.pgoutput import PgOutputDecoder, decode_message
from strangler.connectors.postgres.pgoutput_encoder import encode_message
from strangler.core.errors import StranglerError

pytestmark = pytest.mark.unit

BEGIN = (
    b"B"
    + bytes.fromhex("00000001 0000ABCD")
    + struct.pack("!q", 770_000_000_123_456)
    + b"\x00\x00\x02\xe9"
)
COMMIT = (
    b"C\x00"
    + bytes.fromhex("000000010000ABCD")
    + bytes.fromhex("000000010000ABFF")
    + struct.pack("!q", 770_000_000_123_456)
)
RELATION = (
    b"R"
    + struct.pack("!I", 16384)
    + b"public\x00orders\x00"
    + b"d"
    + b"\x00\x03"
    + b"\x01id\x00"
    + struct.pack("!Ii", 23, -1)
    + b"\x00note\x00"
    + struct.pack("!Ii", 25, -1)
    + b"\x00price\x00"
    + struct.pack("!Ii", 1700, (10 << 16 | 2) + 4)
)
# TupleData: 3 columns: text '42', NULL, unchanged TOAST
TUPLE = b"\x00\x03" + b"t\x00\x00\x00\x0242" + b"n" + b"u"


def lsn(text: str) -> Lsn:
    return Lsn.parse(text)


def test_begin() -> None:
    assert decode_message(BEGIN) == Begin(lsn("1/ABCD"), PgTimestamp(770_000_000_123_456), 745)


def test_commit() -> None:
    assert decode_message(COMMIT) == Commit(
        0, lsn("1/ABCD"), lsn("1/ABFF"), PgTimestamp(770_000_000_123_456)
    )


def test_origin() -> None:
    data = b"O" + bytes.fromhex("0000000000000010") + b"node_a\x00"
    assert decode_message(data) == Origin(lsn("0/10"), "node_a")


def test_relation_with_key_flags_and_typmod() -> None:
    assert decode_message(RELATION) == Relation(
        None,
        Oid(16384),
        "public",
        "orders",
        ReplicaIdentity.DEFAULT,
        (
            RelationColumn(True, "id", Oid(23), -1),
            RelationColumn(False, "note", Oid(25), -1),
            RelationColumn(False, "price", Oid(1700), 655366),
        ),
    )


def test_relation_in_pg_catalog_has_empty_namespace_and_unicode_names() -> None:
    data = b"R" + struct.pack("!I", 7) + b"\x00Gr\xc3\xbc\xc3\x9fe\x00f\x00\x00"
    message = decode_message(data)
    assert isinstance(message, Relation)
    assert (message.namespace, message.name) == ("", "Grüße")
    assert message.replica_identity is ReplicaIdentity.FULL and message.columns == ()


def test_type() -> None:
    data = b"Y" + struct.pack("!I", 90001) + b"public\x00mood\x00"
    assert decode_message(data) == DataType(None, Oid(90001), "public", "mood")


def test_insert_with_every_column_kind() -> None:
    data = (
        b"I"
        + struct.pack("!I", 16384)
        + b"N"
        + b"\x00\x04"
        + TUPLE[2:]
        + b"b\x00\x00\x00\x02\xff\x00"
    )
    assert decode_message(data) == Insert(
        None, Oid(16384), TupleData(("42", None, UNCHANGED_TOAST, b"\xff\x00"))
    )


def test_unchanged_toast_is_a_sentinel_not_data() -> None:
    message = decode_message(b"I" + struct.pack("!I", 1) + b"N" + TUPLE)
    assert isinstance(message, Insert)
    value = message.new.values[2]
    assert value is UNCHANGED_TOAST
    assert not isinstance(value, (str, bytes)) and value is not None
    assert repr(value) == "UNCHANGED_TOAST"


def test_update_without_old_tuple() -> None:
    data = b"U" + struct.pack("!I", 16384) + b"N" + TUPLE
    assert decode_message(data) == Update(
        None, Oid(16384), None, None, TupleData(("42", None, UNCHANGED_TOAST))
    )


@pytest.mark.parametrize(("marker", "kind"), [(b"K", OldKind.KEY), (b"O", OldKind.FULL)])
def test_update_with_old_tuple(marker: bytes, kind: OldKind) -> None:
    old = b"\x00\x01t\x00\x00\x00\x011"
    data = b"U" + struct.pack("!I", 16384) + marker + old + b"N" + TUPLE
    assert decode_message(data) == Update(
        None, Oid(16384), kind, TupleData(("1",)), TupleData(("42", None, UNCHANGED_TOAST))
    )


def test_delete_with_key() -> None:
    data = b"D" + struct.pack("!I", 16384) + b"K" + b"\x00\x02t\x00\x00\x00\x017n"
    assert decode_message(data) == Delete(None, Oid(16384), OldKind.KEY, TupleData(("7", None)))


def test_truncate_with_options() -> None:
    data = b"T" + struct.pack("!iB", 2, 3) + struct.pack("!II", 16384, 16390)
    assert decode_message(data) == Truncate(None, True, True, (Oid(16384), Oid(16390)))


def test_logical_message() -> None:
    data = (
        b"M\x01" + bytes.fromhex("0000000000000020") + b"app\x00" + struct.pack("!i", 3) + b"hi\x00"
    )
    assert decode_message(data) == LogicalMessage(None, True, lsn("0/20"), "app", b"hi\x00")


def test_stream_messages() -> None:
    assert decode_message(b"S" + struct.pack("!IB", 900, 1)) == StreamStart(900, True)
    assert decode_message(b"E") == StreamStop()
    commit = b"c" + struct.pack("!IBQQq", 900, 0, 0x20, 0x28, 5)
    assert decode_message(commit) == StreamCommit(900, 0, lsn("0/20"), lsn("0/28"), PgTimestamp(5))
    assert decode_message(b"A" + struct.pack("!II", 900, 901)) == StreamAbort(900, 901)


def test_messages_inside_a_stream_carry_an_xid() -> None:
    insert = b"I" + struct.pack("!II", 900, 16384) + b"N" + TUPLE
    assert decode_message(insert, in_stream=True) == Insert(
        900, Oid(16384), TupleData(("42", None, UNCHANGED_TOAST))
    )
    # the same bytes outside a stream would be misread: the decoder must refuse, not guess
    with pytest.raises(DecodeError):
        decode_message(insert, in_stream=False)


def test_stateful_decoder_tracks_stream_blocks() -> None:
    decoder = PgOutputDecoder()
    insert_streamed = b"I" + struct.pack("!II", 900, 16384) + b"N" + TUPLE
    insert_plain = b"I" + struct.pack("!I", 16384) + b"N" + TUPLE
    decoder.decode(b"S" + struct.pack("!IB", 900, 1))
    message = decoder.decode(insert_streamed)
    assert isinstance(message, Insert) and message.xid == 900
    decoder.decode(b"E")
    message = decoder.decode(insert_plain)
    assert isinstance(message, Insert) and message.xid is None


GOLDEN = [
    BEGIN,
    COMMIT,
    RELATION,
    b"I" + struct.pack("!I", 16384) + b"N" + TUPLE,
    b"U" + struct.pack("!I", 16384) + b"K\x00\x01n" + b"N" + TUPLE,
    b"D" + struct.pack("!I", 16384) + b"O" + TUPLE,
    b"T" + struct.pack("!iB", 1, 0) + struct.pack("!I", 16384),
    b"M\x00" + bytes(8) + b"p\x00" + struct.pack("!i", 2) + b"ok",
    b"Y" + struct.pack("!I", 1) + b"s\x00t\x00",
    b"O" + bytes(8) + b"n\x00",
]


@pytest.mark.parametrize("data", GOLDEN, ids=lambda d: chr(d[0]))
def test_every_prefix_is_rejected_as_truncated(data: bytes) -> None:
    decode_message(data)
    for cut in range(1, len(data)):
        with pytest.raises(DecodeError) as info:
            decode_message(data[:cut])
        assert info.value.message_type == chr(data[0])
        assert 0 <= info.value.offset <= cut


@pytest.mark.parametrize("data", GOLDEN, ids=lambda d: chr(d[0]))
def test_trailing_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_message(data + b"\x00")
    assert info.value.offset == len(data)
    assert "trailing" in str(info.value)


def test_error_names_type_and_offset() -> None:
    data = b"I" + struct.pack("!I", 1) + b"N" + b"\x00\x01x"
    with pytest.raises(DecodeError) as info:
        decode_message(data)
    error = info.value
    assert isinstance(error, StranglerError) and not error.retriable
    assert (error.message_type, error.offset) == ("I", 8)
    assert "'I'" in str(error) and "byte 8" in str(error) and "'x'" in str(error)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b"Z\x00", 0),
        (b"I" + struct.pack("!I", 1) + b"X" + TUPLE, 5),
        (b"U" + struct.pack("!I", 1) + b"X" + TUPLE, 5),
        (b"D" + struct.pack("!I", 1) + b"N" + TUPLE, 5),
        (b"R" + struct.pack("!I", 1) + b"a\x00b\x00z\x00\x00", 9),
        (b"I" + struct.pack("!I", 1) + b"N\x00\x01t\xff\xff\xff\xff", 9),
        (b"I" + struct.pack("!I", 1) + b"N\x00\x01t\x00\x00\x00\x01\xff", 13),
        (b"T" + struct.pack("!iB", -1, 0), 1),
    ],
)
def test_malformed_messages(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_message(data)
    assert info.value.offset == offset


# ---- property: decode(encode(m)) == m for arbitrary messages --------------------------------

u32 = st.integers(min_value=0, max_value=(1 << 32) - 1)
oids = u32.map(Oid)
lsns = st.integers(min_value=0, max_value=(1 << 64) - 1).map(Lsn)
times = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1).map(PgTimestamp)
names = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=20
)
values = st.one_of(
    st.none(), st.just(UNCHANGED_TOAST), st.text(max_size=30), st.binary(max_size=30)
)
tuples = st.lists(values, max_size=8).map(lambda vs: TupleData(tuple(vs)))
columns = st.builds(
    RelationColumn, st.booleans(), names, oids, st.integers(-(1 << 31), (1 << 31) - 1)
)


oid_tuples = st.lists(oids, max_size=5).map(tuple)


def _messages(xids: st.SearchStrategy[int | None]) -> st.SearchStrategy[PgOutputMessage]:
    return st.one_of(
        st.builds(
            Relation,
            xids,
            oids,
            names,
            names,
            st.sampled_from(ReplicaIdentity),
            st.lists(columns, max_size=6).map(tuple),
        ),
        st.builds(DataType, xids, oids, names, names),
        st.builds(Insert, xids, oids, tuples),
        st.builds(Update, xids, oids, st.none(), st.none(), tuples),
        st.builds(Update, xids, oids, st.sampled_from(OldKind), tuples, tuples),
        st.builds(Delete, xids, oids, st.sampled_from(OldKind), tuples),
        st.builds(
            Truncate, xids, st.booleans(), st.booleans(), st.lists(oids, max_size=5).map(tuple)
        ),
        st.builds(LogicalMessage, xids, st.booleans(), lsns, names, st.binary(max_size=40)),
    )


framing = st.one_of(
    st.builds(Begin, lsns, times, u32),
    st.builds(Commit, st.just(0), lsns, lsns, times),
    st.builds(Origin, lsns, names),
    st.builds(StreamStart, u32, st.booleans()),
    st.just(StreamStop()),
    st.builds(StreamCommit, u32, st.just(0), lsns, lsns, times),
    st.builds(StreamAbort, u32, u32),
)


@given(st.one_of(framing, _messages(st.none())))
def test_round_trip_outside_stream(message: PgOutputMessage) -> None:
    assert decode_message(encode_message(message)) == message


@given(_messages(u32))
def test_round_trip_inside_stream(message: PgOutputMessage) -> None:
    assert decode_message(encode_message(message), in_stream=True) == message
