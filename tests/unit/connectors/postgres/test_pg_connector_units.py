"""Pure parts of the connector: config, preflight findings, snapshot progress, projection of
events (excluded columns, key changes), chunk marks, and the cached serializer's bytes."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import SecretStr

from strangler.connectors.acks import AckTracker
from strangler.connectors.config import SnapshotMode, TableOptions, TableSelection
from strangler.connectors.postgres.config import ConnectPipeline, PostgresSource
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.errors import PostgresError
from strangler.connectors.postgres.lsn import Lsn
from strangler.connectors.postgres.messages import UNCHANGED_TOAST
from strangler.connectors.postgres.metrics import ConnectorMetrics
from strangler.connectors.postgres.preflight import Severity, TableFacts, table_findings
from strangler.connectors.postgres.progress import ProgressFile, SnapshotProgress
from strangler.connectors.postgres.schemas import TableShapes
from strangler.connectors.postgres.snapshotter import SnapshotSource
from strangler.connectors.serialization import TableSerializer
from strangler.connectors.snapshot_chunks import ChunkMark
from strangler.core import avro
from strangler.core.config import load_config
from strangler.core.errors import ConfigError
from strangler.core.events import ChangeEvent, Op, TableId
from strangler.core.schema import Column, SchemaError, TableSchema

pytestmark = pytest.mark.unit

ORDERS = TableId("shop", "orders")


def _source(**overrides: Any) -> PostgresSource:
    values: dict[str, Any] = {
        "name": "legacy", "dsn": SecretStr("dbname=x"), "slot": "s1", "publication": "p1",
        "topic_prefix": "legacy", "tables": TableSelection(include=["shop.*"]), **overrides,
    }  # fmt: skip
    return PostgresSource.model_validate(values)


# ---- config --------------------------------------------------------------------------------


def test_table_patterns_include_and_exclude() -> None:
    selection = TableSelection(include=["shop.*", "public.users"], exclude=["shop.audit_*"])
    tables = [ORDERS, TableId("shop", "audit_log"), TableId("public", "users"), TableId("x", "y")]
    assert selection.select(tables) == [TableId("public", "users"), ORDERS]


def test_pattern_without_schema_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a schema part"):
        TableSelection(include=["orders"])


def test_key_cannot_be_an_excluded_column() -> None:
    with pytest.raises(ValueError, match="cannot be excluded"):
        TableOptions(key=["id"], exclude_columns=["id"])


def test_overrides_must_name_captured_tables() -> None:
    source = _source(overrides={"shop.ordres": TableOptions(key=["id"])})
    with pytest.raises(ConfigError, match=r"shop\.ordres"):
        source.check_overrides([ORDERS])


YAML = """
name: demo
kafka: {bootstrap_servers: "127.0.0.1:9092"}
registry: {url: "http://127.0.0.1:8081"}
sources:
  - name: legacy
    dsn: "dbname=shop"
    slot: strangler_legacy
    publication: strangler_legacy
    topic_prefix: legacy
    tables: {include: [shop.*]}
    snapshot: {mode: when_needed, chunk_rows: 5000}
"""


def test_pipeline_yaml_loads_with_enums() -> None:
    pipeline = load_config(YAML, ConnectPipeline)
    source = pipeline.sources[0]
    assert source.snapshot.mode is SnapshotMode.WHEN_NEEDED
    assert source.dsn.get_secret_value() == "dbname=shop"


def test_unknown_key_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'publication'"):
        load_config(YAML.replace("publication:", "publicaton:"), ConnectPipeline)


def test_invalid_slot_name_and_mode_are_rejected() -> None:
    with pytest.raises(ConfigError, match="slot"):
        load_config(YAML.replace("strangler_legacy\n    publication", "Bad-Slot\n    publication"),
                    ConnectPipeline)  # fmt: skip
    with pytest.raises(ConfigError, match="mode"):
        load_config(YAML.replace("when_needed", "sometimes"), ConnectPipeline)


# ---- preflight -----------------------------------------------------------------------------


def _facts(**overrides: Any) -> TableFacts:
    values: dict[str, Any] = {
        "table": ORDERS, "oid": 1, "partitioned": False, "replica_identity": "d",
        "owned": True, "readable": True, "primary_key": ("id",),
        "columns": ("id", "note", "shape"), "type_kinds": ("b", "b", "c"),
        "type_names": ("int4", "text", "dims"), "storage": ("p", "x", "x"), **overrides,
    }  # fmt: skip
    return TableFacts(**values)


def _problems(findings: list[Any], severity: Severity) -> list[str]:
    return [f.problem for f in findings if f.severity is severity]


def test_table_without_key_is_an_error_with_its_fix() -> None:
    findings = table_findings(_source(), _facts(primary_key=()), must_own=False)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert [f.problem for f in errors] == ["has no primary key and no configured key"]
    assert "ADD PRIMARY KEY" in errors[0].fix and "overrides.shop.orders.key" in errors[0].fix


def test_configured_key_outside_the_replica_identity_needs_full() -> None:
    source = _source(overrides={"shop.orders": TableOptions(key=["note"])})
    errors = _problems(table_findings(source, _facts(), must_own=False), Severity.ERROR)
    assert any("not part of the replica identity" in p for p in errors)
    full = table_findings(source, _facts(replica_identity="f"), must_own=False)
    assert _problems(full, Severity.ERROR) == []


def test_replica_identity_nothing_privileges_and_ownership() -> None:
    facts = _facts(replica_identity="n", readable=False, owned=False)
    errors = _problems(table_findings(_source(), facts, must_own=True), Severity.ERROR)
    assert len(errors) == 3
    assert any("NOTHING" in e for e in errors) and any("SELECT" in e for e in errors)


def test_toast_and_unmapped_types_are_warnings() -> None:
    warnings = _problems(table_findings(_source(), _facts(), must_own=False), Severity.WARNING)
    assert any("TOAST" in w for w in warnings)
    assert any("shape (dims, a composite)" in w for w in warnings)


def test_unknown_override_columns_are_an_error() -> None:
    source = _source(overrides={"shop.orders": TableOptions(exclude_columns=["nope"])})
    errors = _problems(table_findings(source, _facts(), must_own=False), Severity.ERROR)
    assert errors == ["overrides name unknown columns ['nope']"]


# ---- snapshot progress ---------------------------------------------------------------------


def test_progress_round_trips_and_lists_pending_tables(tmp_path: Path) -> None:
    progress = SnapshotProgress("s1", Lsn.parse("0/16B3748"))
    progress.mark(ORDERS, ("5", None), done=False)
    progress.mark(TableId("shop", "users"), None, done=True)
    file = ProgressFile(tmp_path / "state" / "legacy.snapshot.json")
    file.save(progress)
    loaded = file.load()
    assert loaded == progress
    assert loaded.pending([ORDERS, TableId("shop", "users"), TableId("shop", "new")]) == [
        ORDERS,
        TableId("shop", "new"),
    ]


def test_unreadable_progress_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(PostgresError, match=r"bad\.json") as info:
        ProgressFile(path).load()
    assert "delete it" in str(info.value)


def test_chunk_marks_are_acknowledged_in_order() -> None:
    tracker = AckTracker()
    first = tracker.begin(ChunkMark(1, ORDERS, ("10",), False))
    second = tracker.begin(ChunkMark(2, ORDERS, ("20",), False))
    for tx in (first, second):
        tracker.sent(tx)
        tracker.seal(tx)
    tracker.delivered(second)
    assert tracker.acknowledged() is None  # chunk 2 is done, chunk 1 is not
    tracker.delivered(first)
    assert tracker.acknowledged() == ChunkMark(2, ORDERS, ("20",), False)


# ---- projection and serialization -----------------------------------------------------------


class Registrar:
    def __init__(self) -> None:
        self.subjects: dict[str, int] = {}

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        return self.subjects.setdefault(f"{subject} {json.dumps(schema)}", len(self.subjects) + 1)


SCHEMA = TableSchema(
    ORDERS,
    (Column("id", "long", nullable=False), Column("note", "string"), Column("the-x", "int")),
    key=("id",),
)


def _event(op: Op, key: int, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    return ChangeEvent(ORDERS, op, {"id": key}, before, after, Lsn(100))


def _shapes(**options: Any) -> TableShapes:
    source = _source(overrides={"shop.orders": TableOptions(**options)} if options else {})
    serializer = TableSerializer(Registrar(), "strangler")
    return TableShapes(source, {ORDERS: ("id",)}, serializer, lambda t: str(t), {})


def test_projection_drops_excluded_columns_and_other_tables() -> None:
    shapes = _shapes(exclude_columns=["note"])
    other = ChangeEvent(TableId("shop", "other"), Op.CREATE, {"id": 1}, None, {"id": 1}, Lsn(1))
    row = {"id": 1, "note": "secret", "the-x": 3}
    out = list(shapes.project([other, _event(Op.CREATE, 1, None, row)]))
    assert [e.after for e in out] == [{"id": 1, "the-x": 3}]


def test_update_that_changes_the_key_deletes_the_old_key_first() -> None:
    shapes = _shapes()
    update = _event(Op.UPDATE, 2, {"id": 1}, {"id": 2, "note": "n", "the-x": 1})
    out = list(shapes.project([update]))
    assert [(e.op, e.key) for e in out] == [(Op.DELETE, {"id": 1}), (Op.UPDATE, {"id": 2})]
    assert out[0].after is None
    same_key = _event(Op.UPDATE, 2, {"id": 2, "note": "old", "the-x": 1}, {"id": 2})
    assert len(list(shapes.project([same_key]))) == 1


LOGICAL = TableSchema(
    ORDERS,
    (
        Column("at", avro.TIMESTAMP_MICROS, nullable=False),
        Column("day", avro.DATE),
        Column("local", avro.TIMESTAMP_MICROS),
        Column("price", avro.decimal(12, 3)),
        Column("big", avro.decimal(38, 0)),
    ),
    key=("at",),
)


@pytest.mark.parametrize(
    "price",
    ["0", "0.000", "1.5", "-1.5", "127", "128", "-128", "-129", "255.999", "-999999999.999", "1e3"],
)
def test_fast_serializer_converts_logical_types_like_fastavro(price: str) -> None:
    registrar = Registrar()
    slow, fast = TableSerializer(registrar, "ns"), FastTableSerializer(registrar, "ns")
    row = {
        "at": datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
        "day": date(1969, 12, 31),
        "local": datetime(1900, 1, 1, 0, 0, 1),
        "price": Decimal(price),
        "big": Decimal("-12345678901234567890123456789012345678"),
    }
    key = {"at": row["at"]}
    assert fast.value("t", LOGICAL, row) == slow.value("t", LOGICAL, row)
    assert fast.key("t", LOGICAL, key) == slow.key("t", LOGICAL, key)
    empty = {**row, "day": None, "local": None, "price": None}
    assert fast.value("t", LOGICAL, empty) == slow.value("t", LOGICAL, empty)


def test_fast_serializer_leaves_refusals_to_fastavro() -> None:
    fast = FastTableSerializer(Registrar(), "ns")
    row = {"at": datetime(2024, 1, 1, tzinfo=UTC), "price": Decimal("1.2345"), "big": None}
    with pytest.raises(ValueError, match=r"[Ss]cale"):
        fast.value("t", LOGICAL, row)


def test_fast_serializer_writes_the_same_bytes_and_refuses_placeholders() -> None:
    registrar = Registrar()
    slow, fast = TableSerializer(registrar, "ns"), FastTableSerializer(registrar, "ns")
    row = {"id": 7, "note": None, "the-x": 12}
    assert fast.key("t", SCHEMA, {"id": 7}) == slow.key("t", SCHEMA, {"id": 7})
    assert fast.value("t", SCHEMA, row) == slow.value("t", SCHEMA, row)
    assert fast.value("t", SCHEMA, None) is None
    with pytest.raises(SchemaError, match="placeholder"):
        fast.value("t", SCHEMA, {**row, "note": UNCHANGED_TOAST})
    with pytest.raises(SchemaError, match="NULL"):
        fast.key("t", SCHEMA, {"id": None})


class FakePublisher:
    """Acknowledges whatever the test says; records nothing else."""

    def __init__(self) -> None:
        self.acked: Any = None
        self.last: Any = None

    def publish(self, events: Any, schemas: Any, end: Any) -> None:
        list(events)
        self.last = end

    def publish_reads(self, table: TableId, schema: Any, rows: Any, at: Any, end: Any) -> None:
        self.publish(rows, None, end)

    def acknowledged(self) -> Any:
        return self.acked


class NoShapes:
    schemas: dict[TableId, TableSchema | None] = defaultdict(lambda: None)

    def project(self, events: Any) -> Any:
        return events


def test_every_table_finished_before_the_acknowledged_chunk_is_recorded(tmp_path: Path) -> None:
    users = TableId("shop", "users")
    progress = SnapshotProgress("s1", Lsn(1))
    publisher = FakePublisher()
    reader = SimpleNamespace(position=Lsn(1))
    snapshot = SnapshotSource(
        cast(Any, reader), cast(Any, None), cast(Any, NoShapes()), cast(Any, publisher), progress,
        ProgressFile(tmp_path / "p.json"), threading.Event(),
    )  # fmt: skip
    snapshot._publish([], ORDERS, ("5",), done=False)
    snapshot._publish([], ORDERS, ("5",), done=True)
    snapshot._publish([], users, ("9",), done=False)
    publisher.acked = publisher.last  # one acknowledgement covers all three chunks
    snapshot._checkpoint(force=True)
    saved = ProgressFile(tmp_path / "p.json").load()
    assert saved is not None and saved.pending([ORDERS, users]) == [users]
    assert saved.tables[users].after == ("9",)


def test_metrics_measure_commit_to_acknowledgement_and_lag() -> None:
    metrics = ConnectorMetrics()
    now_us = int(time.time() * 1e6)
    metrics.published(Lsn(10), now_us - 50_000, events=3)
    metrics.published(Lsn(20), now_us - 20_000, events=2)
    assert metrics.lag_seconds() >= 0.05
    metrics.acknowledged(Lsn(10))
    assert len(metrics.latencies_us) == 1 and metrics.latencies_us[0] >= 50_000
    metrics.acknowledged(Lsn(20))
    assert metrics.lag_seconds() == 0.0
    figures = metrics.snapshot()
    assert figures["events"] == 5 and figures["transactions"] == 2
