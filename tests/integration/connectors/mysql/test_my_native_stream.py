"""The native stream encoder on a real MariaDB and Kafka: every type the C encoder writes,
inserted, updated (also the key), deleted, streamed by the connector; the topic holds exactly
the records the Python path writes for the same binlog (python-mysql-replication's rows,
``from_binlog``, ``TableShapes.project``, ``FastTableSerializer``), and the native path took
the row events it should."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from strangler.connectors.config import TableOptions
from strangler.connectors.mysql.binlog import Rows
from strangler.connectors.mysql.native_stream import StreamEncoder
from strangler.connectors.mysql.shapes import TableShapes
from strangler.connectors.mysql.transactions import Transaction
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.connectors.publisher import EncodedRows, Publisher
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now, stream_all
from tests.integration.connectors.mysql.test_my_connector_support import (
    Running,
    make_source,
    wait_caught_up,
)
from tests.integration.connectors.mysql.test_my_type_round_trip import CASES
from tests.support.kafka import consume_all
from tests.unit.connectors.mysql.test_my_connector_units import Producer

pytestmark = pytest.mark.integration

NATIVE = [c for c in CASES if c.expected is not None and not c.sql_type.startswith("inet")]
"""Every type the C encoder writes (not MariaDB's INET6/INET4: Python's ipaddress texts them),
with a value it writes (not a zero date: the Python path warns and writes null)."""
ZERO_DATES = [i for i, c in enumerate(NATIVE) if c.sql_type.split("(")[0] in ("date", "datetime")]

Record = tuple[bytes | None, bytes | None, tuple[tuple[str, Any], ...]]


def _statements() -> tuple[list[str], list[str]]:
    columns = ", ".join(f"c{i} {case.sql_type}" for i, case in enumerate(NATIVE))
    values = ", ".join(case.literal for case in NATIVE)
    nulls = ", NULL" * len(NATIVE)
    return [
        f"CREATE TABLE types (id int PRIMARY KEY, {columns}, secret varchar(10)) "
        "CHARACTER SET utf8mb4",
        "CREATE TABLE pairs (a int, b varchar(10), f double, PRIMARY KEY (a, b))",
    ], [
        f"INSERT INTO types VALUES (1, {values}, 's'), (2{nulls}, NULL)",
        "UPDATE types SET c3 = c3 + 1 WHERE id = 1",  # the key stays
        "UPDATE types SET id = 3 WHERE id = 1",  # the key changes: a tombstone of 1 first
        f"INSERT INTO types VALUES (4, {values}, 's')",
        f"UPDATE types SET c{ZERO_DATES[0]} = '0000-00-00' WHERE id = 4",  # declined
        "DELETE FROM types WHERE id = 2",
        "INSERT INTO pairs VALUES (1, 'x', 1.5), (2, 'y', -0.0), (3, 'ü', NULL)",
        "UPDATE pairs SET b = 'moved', f = f * 2 WHERE a = 1",
        "DELETE FROM pairs WHERE a = 2",
    ]


def _python_records(
    txs: Sequence[Transaction], shapes: TableShapes, serializer: FastTableSerializer, native: bool
) -> tuple[dict[str, list[Record]], int]:
    """Per topic, the records of ``txs`` through the Python path (or the native one), and how
    many row events the native encoder took."""
    producer = Producer()
    publisher = Publisher(producer, serializer, shapes._topic_for, "mysql_file_pos")  # type: ignore[arg-type]
    encoder = StreamEncoder(shapes, serializer, shapes._topic_for)
    taken = 0
    for tx in txs:
        if not native:
            rows = tuple((c, Rows(r.table_map, r.op, r.parse, None)) for c, r in tx.rows)
            tx = Transaction(
                tx.gtid, tx.position, tx.commit_ts_us, rows, tx.schemas, tx.ddl, tx.truncates
            )
        schemas = shapes.register(tx.schemas)
        items = list(encoder.items(tx, schemas))
        taken += sum(isinstance(i, EncodedRows) for i in items)
        publisher.publish(
            items, schemas, tx.position, gtid=tx.gtid, commit_ts_us=tx.commit_ts_us,
            tx_id=tx.gtid, position=tx.position.file,
        )  # fmt: skip
    out: dict[str, list[Record]] = {}
    for r in producer.records:
        headers = tuple((k, v) for k, v in r["headers"])
        out.setdefault(r["topic"], []).append((r["key"], r["value"], headers))
    return out, taken


def _consumed(message: Any) -> Record:
    headers: list[tuple[str, Any]] = message.headers() or []
    return message.key(), message.value(), tuple(headers)


def _by_key(records: Sequence[Record]) -> dict[bytes | None, list[Record]]:
    """Records per key, in order (a key's records are in one partition, in order)."""
    out: dict[bytes | None, list[Record]] = {}
    for record in records:
        out.setdefault(record[0], []).append(record)
    return out


def test_the_topic_holds_the_python_paths_records(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    schema, dml = _statements()
    execute(db, *schema, sql_mode="")
    overrides = {f"{db.name}.types": TableOptions(exclude_columns=["secret"])}
    source = make_source(db, tmp_path, topic_name, overrides=overrides)
    running = Running(source, kafka_bootstrap, registry_url)
    assert running.connector.streaming.wait(60), running.error
    start = position_now(db)
    for statement in dml:
        execute(db, statement, sql_mode="")
    wait_caught_up(db, running)
    running.finish()

    tables = [TableId(db.name, "types"), TableId(db.name, "pairs")]
    registrar = HttpRegistrar(registry_url)
    try:
        serializer = FastTableSerializer(registrar, "strangler")
        shapes = TableShapes(source, tables, serializer, lambda t: table_topic(topic_name, t))
        txs = stream_all(db, start)
        python, none = _python_records(txs, shapes, serializer, native=False)
        native, taken = _python_records(txs, shapes, serializer, native=True)
    finally:
        registrar.close()
    assert none == 0 and taken == len(dml) - 1  # all but the zero date's update
    assert native == python
    for table in tables:
        topic = table_topic(topic_name, table)
        expected = python[topic]
        got = [_consumed(m) for m in consume_all(kafka_bootstrap, topic, expect=len(expected))]
        assert _by_key(got) == _by_key(expected), table
    ops = [dict(r[2])["op"] for r in python[table_topic(topic_name, tables[0])]]
    assert ops == [b"c", b"c", b"u", b"d", b"u", b"c", b"u", b"d"]
