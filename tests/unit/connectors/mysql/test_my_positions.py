"""Binlog positions: parse/encode round trips and ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strangler.connectors.mysql.errors import PositionError
from strangler.connectors.mysql.positions import (
    BinlogPosition,
    FilePosition,
    MariadbGtid,
    MariadbGtidPos,
    MysqlGtidSet,
    parse_gtids,
)

pytestmark = pytest.mark.unit

SID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
SID2 = "00000000-0000-0000-0000-00000000000a"

gtids = st.builds(
    MariadbGtid,
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
)
mariadb_positions = st.lists(gtids, max_size=4, unique_by=lambda g: g.domain).map(
    lambda gs: MariadbGtidPos(tuple(sorted(gs)))
)
mysql_sets = st.dictionaries(
    st.sampled_from([SID, SID2]),
    st.lists(st.tuples(st.integers(1, 50), st.integers(0, 5)), min_size=1, max_size=4).map(
        lambda pairs: [(a, a + n) for a, n in pairs]
    ),
).map(MysqlGtidSet.of)


def test_mariadb_position_text() -> None:
    pos = MariadbGtidPos.parse("1-7-9, 0-1-42")
    assert pos.encode() == "0-1-42,1-7-9"
    assert pos.seq(1) == 9 and pos.seq(5) == 0
    assert pos.advance(MariadbGtid.parse("1-2-10")).encode() == "0-1-42,1-2-10"
    assert MariadbGtidPos.parse("").encode() == ""


@pytest.mark.parametrize("text", ["0-1", "a-1-2", "0-1-2,0-1-3", "0-1--2", "0-4294967296-1"])
def test_bad_mariadb_positions_are_refused(text: str) -> None:
    with pytest.raises(PositionError):
        MariadbGtidPos.parse(text)


def test_mariadb_ordering_is_per_domain() -> None:
    a, b = MariadbGtidPos.parse("0-1-5"), MariadbGtidPos.parse("0-1-6")
    assert a < b and b > a and a <= b and not b < a
    both = MariadbGtidPos.parse("0-1-5,1-1-1")
    assert a < both  # a domain seen later counts from 0
    assert not MariadbGtidPos.parse("0-1-6") < both and not both < MariadbGtidPos.parse("0-1-6")


@given(mariadb_positions)
def test_mariadb_round_trip(pos: MariadbGtidPos) -> None:
    assert MariadbGtidPos.parse(pos.encode()) == pos
    assert parse_gtids(pos.encode()) == pos


@given(mariadb_positions, gtids)
def test_advancing_never_goes_back(pos: MariadbGtidPos, gtid: MariadbGtid) -> None:
    after = pos.advance(gtid)
    if gtid.seq > pos.seq(gtid.domain):
        assert pos < after
    assert after.seq(gtid.domain) == gtid.seq


def test_mysql_gtid_set_text_and_merging() -> None:
    parsed = MysqlGtidSet.parse(f"{SID.upper()}:1-5:6:8-9,\n{SID2}:3")
    assert parsed.encode() == f"{SID2}:3,{SID}:1-6:8-9"
    assert parsed.add(SID, 7).encode() == f"{SID2}:3,{SID}:1-9"
    assert parsed.contains(SID, 8) and not parsed.contains(SID, 7)


@pytest.mark.parametrize("text", [f"{SID}", f"{SID}:0-3", f"{SID}:5-3", "nope:1", f"{SID}:x"])
def test_bad_mysql_sets_are_refused(text: str) -> None:
    with pytest.raises(PositionError):
        MysqlGtidSet.parse(text)


@given(mysql_sets, mysql_sets)
def test_mysql_sets_round_trip_and_order_by_inclusion(a: MysqlGtidSet, b: MysqlGtidSet) -> None:
    assert MysqlGtidSet.parse(a.encode()) == a
    assert parse_gtids(a.encode()) == a if a.intervals else True
    union = MysqlGtidSet.of(
        {sid: [*dict(a.intervals).get(sid, ()), *dict(b.intervals).get(sid, ())]
         for sid in {*dict(a.intervals), *dict(b.intervals)}}
    )  # fmt: skip
    assert a <= union and b <= union
    assert (a < b) == (a != b and a <= union == b)


def test_file_positions_compare_the_counter_as_a_number() -> None:
    assert FilePosition.parse("binlog.999999:10") < FilePosition.parse("binlog.1000000:4")
    assert FilePosition("binlog.000002", 4) > FilePosition("binlog.000001", 900)
    assert FilePosition.parse("my:bin.000003:77") == FilePosition("my:bin.000003", 77)
    with pytest.raises(PositionError):
        FilePosition.parse("binlog.000001")


def test_binlog_position_text_forms() -> None:
    both = BinlogPosition.parse("0-1-5@binlog.000002:5516")
    assert both.encode() == "0-1-5@binlog.000002:5516"
    assert BinlogPosition.parse("0-1-5") == BinlogPosition(MariadbGtidPos.parse("0-1-5"))
    assert BinlogPosition.parse("binlog.000002:5516").file == FilePosition("binlog.000002", 5516)
    mysql = BinlogPosition.parse(f"{SID}:1-5@binlog.000001:4")
    assert isinstance(mysql.gtids, MysqlGtidSet)
    assert BinlogPosition.parse(mysql.encode()) == mysql
    with pytest.raises(PositionError):
        BinlogPosition.parse("@")


def test_binlog_positions_prefer_gtids_then_files() -> None:
    a = BinlogPosition.parse("0-1-5@binlog.000009:4")
    b = BinlogPosition.parse("0-1-6@binlog.000001:4")  # a file position after a failover
    assert a < b
    assert BinlogPosition.parse("@binlog.000001:4") < BinlogPosition.parse("0-1-1@binlog.000001:5")
    with pytest.raises(PositionError):
        _ = BinlogPosition.parse("0-1-5@") < BinlogPosition.parse("@binlog.000001:4")
