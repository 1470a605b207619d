"""The snapshot's native encoder against a real MariaDB: a table of every mapped type (the
round-trip test's cases), read in chunks straight to Avro records (``ChunkEncoder``: packets
read off the socket and encoded in C), gives byte for byte the records the Python path writes
(pymysql's rows, ``from_text``, ``FastTableSerializer``) for the published schema, excluded
columns and a two-column key included; only the row holding zero dates takes the Python path.
Then the connector itself: its topic holds exactly those records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from strangler.connectors.config import TableOptions
from strangler.connectors.mysql.snapshot import ChunkEncoder, Records, SnapshotReader
from strangler.connectors.postgres.encoding import FastTableSerializer
from strangler.connectors.postgres.registrar import HttpRegistrar
from strangler.connectors.topics import table_topic
from strangler.core.events import TableId
from strangler.core.headers import header_value
from strangler.core.schema import TableSchema
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, settings
from tests.integration.connectors.mysql.test_my_connector_support import (
    Running,
    make_source,
    wait_caught_up,
)
from tests.integration.connectors.mysql.test_my_type_round_trip import CASES, _create
from tests.support.kafka import consume_all

pytestmark = pytest.mark.integration

TOPIC = "native.types"
_GEOMETRY = {"geometry", "point", "linestring"}
ROWS = 1_203


class _Registrar:
    def register(self, subject: str, schema: Any) -> int:
        return 7 if subject.endswith("-key") else 8


def _load(db: MysqlDatabase) -> None:
    insert = _create(db)
    execute(db, insert, sql_mode="")
    zero = [f"c{i}" for i, c in enumerate(CASES) if c.literal.startswith("'0000-")]
    zero += [f"c{i}" for i, c in enumerate(CASES) if c.literal == "'2024-00-10'"]
    # more rows, in several chunks: row 1's values without its zero dates, and NULLs
    execute(
        db,
        "CREATE TABLE seq (n int PRIMARY KEY)",
        "INSERT INTO seq SELECT seq FROM seq_3_to_1203",
        "INSERT INTO types SELECT n, " + ", ".join(f"c{i}" for i in range(len(CASES)))
        + " FROM seq, types WHERE types.id = 1 + n % 2",
        "UPDATE types SET " + ", ".join(f"{c} = NULL" for c in zero) + " WHERE id > 2",
        "UPDATE types SET c5 = -id WHERE c5 IS NULL",  # c5 is in the key: never NULL
        sql_mode="",
    )  # fmt: skip


def _published(source: TableSchema) -> TableSchema:
    excluded = {f"c{i}" for i, c in enumerate(CASES) if c.sql_type in _GEOMETRY}
    key = ("c5", "id")  # smallint, int: a two-column key
    columns = tuple(c for c in source.columns if c.name not in excluded)
    return TableSchema(source.table, columns, key)


def test_native_records_are_the_python_paths_for_every_type(mysql_database: MysqlDatabase) -> None:
    db = mysql_database
    _load(db)
    table = TableId(db.name, "types")
    serializer = FastTableSerializer(_Registrar(), "test")
    declined: list[Any] = []
    with SnapshotReader(settings(db), chunk_rows=500) as snapshot:
        codec = snapshot.describe(table)
        schema = _published(codec.schema)
        encoder = ChunkEncoder(codec, schema, serializer, TOPIC)
        python = encoder.python

        def counted(values: Any) -> tuple[bytes, bytes | None]:
            declined.append(values[0])
            return python(values)

        encoder.python = counted  # type: ignore[method-assign]  # counts declined rows
        chunks = list(snapshot.read(codec, None, encoder))
        expected_chunks = list(snapshot.read(codec))
    assert [c.size for c in chunks] == [500, 500, 203]
    assert all(isinstance(c.records, Records) and not c.rows for c in chunks)
    assert [c.last_key for c in chunks] == [c.last_key for c in expected_chunks]
    native = [record for chunk in chunks if chunk.records for record in chunk.records]
    rows = [row for chunk in expected_chunks for row in chunk.rows]
    expected = [
        (serializer.key(TOPIC, schema, row), serializer.value(TOPIC, schema, row)) for row in rows
    ]
    assert len(native) == ROWS
    assert native == expected
    assert declined == ["1"]  # the row holding zero dates (the Python path writes NULLs)


def test_the_connectors_topic_holds_the_python_paths_records(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    _load(db)
    table = TableId(db.name, "types")
    excluded = [f"c{i}" for i, c in enumerate(CASES) if c.sql_type in _GEOMETRY]
    options = {f"{db.name}.types": TableOptions(key=["c5", "id"], exclude_columns=excluded)}
    source = make_source(db, tmp_path, topic_name, overrides=options)
    running = Running(source, kafka_bootstrap, registry_url)
    try:
        wait_caught_up(db, running)
    finally:
        running.finish()
    topic = table_topic(topic_name, table)
    registrar = HttpRegistrar(registry_url)
    try:
        serializer = FastTableSerializer(registrar, "strangler")
        with SnapshotReader(settings(db)) as snapshot:
            codec = snapshot.describe(table, ["c5", "id"])
            schema = _published(codec.schema)
            rows = [row for chunk in snapshot.read(codec) for row in chunk.rows]
        expected = [
            (serializer.key(topic, schema, r), serializer.value(topic, schema, r)) for r in rows
        ]
    finally:
        registrar.close()
    messages = consume_all(kafka_bootstrap, topic, expect=ROWS)
    assert {header_value(m.headers(), "op") for m in messages} == {"r"}
    assert sorted((m.key(), m.value()) for m in messages) == sorted(expected)
