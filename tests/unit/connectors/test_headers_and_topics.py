"""Record headers and topic names of table topics."""

from __future__ import annotations

import pytest

from strangler.connectors.topics import table_topic
from strangler.core.errors import ConfigError
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.headers import event_headers, header_value
from tests.unit.connectors.test_acks import Seq

pytestmark = pytest.mark.unit


def test_headers_carry_op_position_tx_and_commit_time() -> None:
    event = ChangeEvent(
        TableId("public", "items"),
        Op.UPDATE,
        {"id": 1},
        None,
        {"id": 1},
        Seq(42),
        commit_ts_us=1_700_000_000_000_000,
        tx_id="731",
    )
    headers = event_headers(event, "integer", gtid="0-1-9")
    assert headers == [
        ("op", b"u"),
        ("position", b"42"),
        ("position_kind", b"integer"),
        ("tx_id", b"731"),
        ("commit_ts_us", b"1700000000000000"),
        ("gtid", b"0-1-9"),
    ]
    assert header_value(headers, "op") == "u"
    assert header_value(headers, "missing") is None


def test_snapshot_read_has_no_tx_or_commit_time() -> None:
    event = ChangeEvent(TableId("s", "t"), Op.READ, {"id": 1}, None, {"id": 1}, Seq(1))
    assert [k for k, _ in event_headers(event, "integer")] == ["op", "position", "position_kind"]


def test_topic_names() -> None:
    assert table_topic("shop", TableId("public", "products")) == "shop.public.products"
    assert table_topic("shop", TableId("Sales Data", "Größe")) == "shop.Sales_Data.Gr__e"
    with pytest.raises(ConfigError, match="249"):
        table_topic("p" * 250, TableId("s", "t"))
