"""Pure parts of the MySQL connector: stored state, shape projection, configuration, the file
offset store, the gtid header of published records, metrics."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from strangler.connectors.config import TableOptions, TableSelection
from strangler.connectors.mysql.config import MysqlSource
from strangler.connectors.mysql.connector import _StateWriter
from strangler.connectors.mysql.errors import MysqlError
from strangler.connectors.mysql.metrics import ConnectorMetrics
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.state import SourceState, StateStore
from strangler.connectors.offsets import FileOffsetStore, OffsetStoreError
from strangler.connectors.publisher import Publisher
from strangler.connectors.serialization import TableSerializer
from strangler.core.errors import ConfigError
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.headers import header_value
from strangler.core.schema import Column, TableSchema

pytestmark = pytest.mark.unit

T = TableId("shop", "items")
OTHER = TableId("shop", "audit")
POS = BinlogPosition.parse("0-1-42@binlog.000003:1234")
AT = FilePosition("binlog.000003", 1234)
SCHEMA = TableSchema(
    T,
    (
        Column("id", "int", nullable=False),
        Column("code", "string", nullable=False),
        Column("secret", "string"),
    ),
    ("id",),
)


class Registrar:
    """An in-memory registrar: ids by (subject, schema)."""

    def __init__(self) -> None:
        self.subjects: dict[tuple[str, str], int] = {}

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        key = (subject, json.dumps(schema, sort_keys=True))
        return self.subjects.setdefault(key, len(self.subjects) + 1)


def _source(**overrides: Any) -> MysqlSource:
    values: dict[str, Any] = {
        "name": "legacy",
        "url": SecretStr("mysql://rep%40l:p%3Ass@db.example:3307/"),
        "server_id": 4242,
        "topic_prefix": "legacy",
        "tables": TableSelection(include=["shop.*"]),
        **overrides,
    }
    return MysqlSource.model_validate(values)


def _shapes(**overrides: Any) -> tuple[TableShapes, Registrar]:
    registrar = Registrar()
    shapes = TableShapes(
        _source(**overrides), [T], TableSerializer(registrar, "ns"), lambda t: f"legacy.{t}"
    )
    return shapes, registrar


def _event(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None) -> ChangeEvent:
    row = after if after is not None else before or {}
    return ChangeEvent(T, op, {"id": row["id"]}, before, after, POS, 1, "0-1-42")


def test_state_round_trips_typed_resume_keys() -> None:
    state = SourceState(POS)
    state.mark(T, (18446744073709551615, Decimal("-1.50"), "é", b"\x00\xff"), done=False)
    state.mark(OTHER, None, done=True)
    back = SourceState.from_json(json.loads(json.dumps(state.to_json())))
    assert back == state
    assert back.pending([T, OTHER, TableId("shop", "new")]) == [T, TableId("shop", "new")]


def test_unreadable_state_says_how_to_start_over() -> None:
    with pytest.raises(MysqlError) as caught:
        SourceState.from_json({"position": "not a position", "tables": []})
    assert caught.value.fix is not None and "snapshot" in caught.value.fix


def test_file_offset_store_saves_atomically_and_refuses_garbage(tmp_path: Path) -> None:
    store = StateStore(FileOffsetStore(tmp_path / "s" / "legacy.offsets.json"))
    assert store.load() is None
    store.save(SourceState(POS))
    loaded = store.load()
    assert loaded is not None and loaded.position == POS
    assert not list((tmp_path / "s").glob("*.tmp"))
    (tmp_path / "s" / "legacy.offsets.json").write_text("{")
    with pytest.raises(OffsetStoreError):
        store.load()
    store.clear()
    assert store.load() is None


def test_config_reads_the_url_and_rejects_unknown_keys() -> None:
    source = _source()
    assert source.connection_settings() == {
        "host": "db.example", "port": 3307, "user": "rep@l", "password": "p:ss",
    }  # fmt: skip
    with pytest.raises(ValueError, match="mysql://"):
        _source(url=SecretStr("postgresql://x@y/"))
    with pytest.raises(ValueError, match="server_idd"):
        _source(server_idd=1)


def test_overrides_must_name_captured_tables() -> None:
    source = _source(overrides={"shop.typo": TableOptions(exclude_columns=["x"])})
    with pytest.raises(ConfigError):
        source.check_overrides([T])


def test_projection_excludes_columns_rekeys_and_deletes_a_moved_key() -> None:
    shapes, registrar = _shapes(
        overrides={"shop.items": TableOptions(key=["code"], exclude_columns=["secret"])}
    )
    schemas = shapes.register({T: SCHEMA, OTHER: SCHEMA})
    assert list(schemas) == [T]
    assert schemas[T].key == ("code",)
    assert [c.name for c in schemas[T].columns] == ["id", "code"]
    assert {s for s, _ in registrar.subjects} == {
        "legacy.shop.items-key",
        "legacy.shop.items-value",
    }
    moved = _event(
        Op.UPDATE, {"id": 1, "code": "a", "secret": "s"}, {"id": 1, "code": "b", "secret": "t"}
    )
    other = ChangeEvent(OTHER, Op.CREATE, {"id": 1}, None, {"id": 1}, POS)
    out = list(shapes.project([moved, other], schemas, AT))
    assert [(e.op, e.key) for e in out] == [(Op.DELETE, {"code": "a"}), (Op.UPDATE, {"code": "b"})]
    assert out[0].after is None and out[1].after == {"id": 1, "code": "b"}
    assert all(e.position == AT for e in out)


def test_registration_is_once_per_table_version() -> None:
    shapes, registrar = _shapes()
    first = shapes.publishable(SCHEMA)
    assert shapes.publishable(SCHEMA) is first
    altered = TableSchema(T, (*SCHEMA.columns, Column("note", "string")), ("id",))
    assert shapes.publishable(altered) is not first
    assert len(registrar.subjects) == 3  # one key schema, two value schemas
    assert shapes.schemas[T].columns[-1].name == "note"


def test_truncate_passes_without_a_schema() -> None:
    shapes, _ = _shapes()
    truncate = ChangeEvent(T, Op.TRUNCATE, None, None, None, POS, 1, "0-1-42")
    (out,) = shapes.project([truncate], {}, AT)
    assert out.op is Op.TRUNCATE and out.position == AT


class Producer:
    """Records produce() calls and acknowledges each on the next poll (a pure unit)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._callbacks: list[Any] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.records.append({"topic": topic, **kwargs})
        self._callbacks.append(kwargs["on_delivery"])

    def poll(self, _timeout: float = 0) -> int:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(None, None)
        return len(callbacks)

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return 0


def test_publish_puts_the_gtid_in_a_header_and_stays_compatible() -> None:
    producer = Producer()
    publisher = Publisher(
        producer,  # type: ignore[arg-type]
        TableSerializer(Registrar(), "ns"),
        lambda t: "topic",
        "mysql_file_pos",
    )
    row = {"id": 1, "code": "a", "secret": None}
    event = ChangeEvent(T, Op.CREATE, {"id": 1}, None, row, AT, 1, "0-1-42")
    publisher.publish([event], {T: SCHEMA}, POS, gtid="0-1-42")
    publisher.publish([event], {T: SCHEMA}, POS)
    first, second = (r["headers"] for r in producer.records)
    assert header_value(first, "gtid") == "0-1-42"
    assert header_value(first, "position") == "binlog.000003:1234"
    assert header_value(first, "position_kind") == "mysql_file_pos"
    assert header_value(second, "gtid") is None
    assert publisher.acknowledged() == POS


def test_metrics_latency_per_acknowledged_transaction() -> None:
    metrics = ConnectorMetrics()
    metrics.published(1, 3)
    metrics.published(2, 0)
    metrics.acknowledged(1)
    assert len(metrics.latencies_us) == 1 and metrics.lag_seconds() > 0
    metrics.acknowledged(5)
    assert len(metrics.latencies_us) == 2 and metrics.lag_seconds() == 0.0
    assert metrics.snapshot()["events"] == 3


class _Owner:
    """What ``_StateWriter`` needs of the connector: ``store_document`` (slow, or failing)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.stored: list[str] = []
        self.fail_at = fail_at
        self.first = threading.Event()
        self.release = threading.Event()

    def store_document(self, document: dict[str, Any], position: str) -> None:
        self.first.set()
        self.release.wait(5)  # the first save is slow: later states pile up meanwhile
        if self.fail_at is not None and len(self.stored) == self.fail_at:
            raise OffsetStoreError("disk full")
        assert document["position"] == position
        self.stored.append(position)


def _state(seq: int) -> SourceState:
    return SourceState(BinlogPosition.parse(f"0-1-{seq}@binlog.000003:{seq}"))


def test_state_writer_stores_the_newest_state_off_the_loop_and_the_last_on_close() -> None:
    owner = _Owner()
    writer = _StateWriter(owner)  # type: ignore[arg-type]
    writer.start()
    writer.submit(_state(1))
    assert owner.first.wait(5)
    for seq in range(2, 6):  # while the first save runs: only the newest is written next
        writer.submit(_state(seq))
    owner.release.set()
    writer.close()
    assert owner.stored == [_state(1).position.encode(), _state(5).position.encode()]
    assert not writer.is_alive()


def test_state_writer_raises_a_failed_save_on_submit_and_on_close() -> None:
    owner = _Owner(fail_at=0)
    owner.release.set()
    writer = _StateWriter(owner)  # type: ignore[arg-type]
    writer.start()
    writer.submit(_state(1))
    writer.join(5)
    with pytest.raises(OffsetStoreError, match="disk full"):
        writer.submit(_state(2))
    with pytest.raises(OffsetStoreError, match="disk full"):
        writer.close()
    assert owner.stored == []
