"""The watermark window of an incremental snapshot: chunk rows whose keys the stream changed
inside the window are left out, the others carry the watermark's position; a truncate in the
window drops the whole chunk; requests survive a round trip through their file."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from strangler.connectors.postgres.incremental import SIGNAL_PREFIX, IncrementalSnapshots, Window
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import LogicalMessage
from strangler.connectors.resnapshot import Request, RequestFile
from strangler.core.events import ChangeEvent, Op, TableId

pytestmark = pytest.mark.unit
TABLE = TableId("public", "products")
OTHER = TableId("public", "orders")


def read(key: int) -> ChangeEvent:
    row = {"id": key, "name": f"item {key}"}
    return ChangeEvent(TABLE, Op.READ, {"id": key}, None, row, Lsn(0))


def change(table: TableId, op: Op, key: int | None) -> ChangeEvent:
    row = None if key is None else {"id": key}
    after = None if op in (Op.DELETE, Op.TRUNCATE) else row
    return ChangeEvent(table, op, row, None, after, Lsn(5))


def test_rows_changed_in_the_window_are_left_to_the_stream() -> None:
    window = Window(Request("r1", TABLE), events=[read(k) for k in (1, 2, 3, 4)])
    window.note([change(TABLE, Op.UPDATE, 2), change(TABLE, Op.DELETE, 4)])
    window.note([change(OTHER, Op.UPDATE, 1)])  # another table's key 1 is not this one's
    rows = window.rows(Lsn(100))
    assert [r.key for r in rows] == [{"id": 1}, {"id": 3}]
    assert {r.position for r in rows} == {Lsn(100)}
    assert all(r.op is Op.READ for r in rows)


def test_a_truncate_in_the_window_drops_the_chunk() -> None:
    window = Window(Request("r1", TABLE), events=[read(1), read(2)])
    window.note([change(TABLE, Op.TRUNCATE, None)])
    assert window.rows(Lsn(100)) == []


def test_requests_round_trip_through_their_file(tmp_path: Path) -> None:
    requests = RequestFile(tmp_path / "s.incremental.json")
    assert requests.load() == []
    first = Request("a", TABLE, state="running", after=["17"], chunks=3, rows=140, dropped=10)
    second = Request("b", OTHER, state="rejected", reason="not captured")
    requests.save([first, second])
    assert requests.load() == [first, second]


def message(prefix: str, content: bytes) -> LogicalMessage:
    return LogicalMessage(None, True, Lsn(1), prefix, content)


def test_signals_are_accepted_once_per_id_and_only_for_this_slot(tmp_path: Path) -> None:
    source = SimpleNamespace(name="shop", slot="mine", state_dir=tmp_path)
    shapes = SimpleNamespace(tables={TABLE})
    coordinator = IncrementalSnapshots(
        cast(Any, source), cast(Any, None), cast(Any, shapes), cast(Any, None),
        lambda: None, cast(Any, None),
    )  # fmt: skip

    def signal(slot: str, request_id: str, table: TableId) -> LogicalMessage:
        body = {"slot": slot, "id": request_id, "table": [table.schema, table.name]}
        return message(SIGNAL_PREFIX, json.dumps(body).encode())

    coordinator.on_messages([
        signal("theirs", "x", TABLE),  # another slot's request
        message(SIGNAL_PREFIX, b"not json"),
        message(SIGNAL_PREFIX, b'{"slot": "mine", "id": "y"}'),  # no table
        signal("mine", "a", TABLE),
        signal("mine", "a", TABLE),  # replayed after a restart
        signal("mine", "b", OTHER),  # not captured
    ])  # fmt: skip
    requests = RequestFile.of(cast(Any, source)).load()
    assert [(r.id, r.table, r.state) for r in requests] == [
        ("a", TABLE, "pending"),
        ("b", OTHER, "rejected"),
    ]
