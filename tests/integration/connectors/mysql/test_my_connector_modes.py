"""Position modes and an unusable stored position: file:pos positions resume like GTID ones;
a stored position the server cannot serve stops the connector with the fix (snapshot mode
initial) or starts a new snapshot (when_needed)."""

from __future__ import annotations

import time
from pathlib import Path

import pymysql
import pytest

from strangler.connectors.config import SnapshotMode, SnapshotSettings
from strangler.connectors.mysql.config import MysqlSource, PositionMode
from strangler.connectors.mysql.connector import PreflightFailed
from strangler.connectors.mysql.positions import BinlogPosition, FilePosition, MariadbGtidPos
from strangler.connectors.mysql.state import SourceState, StateStore
from strangler.connectors.offsets import FileOffsetStore
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, settings
from tests.integration.connectors.mysql.test_my_connector_support import (
    Running,
    assert_topics_equal_tables,
    make_source,
    stored_position,
    wait_caught_up,
)

pytestmark = pytest.mark.integration


def _master_file(db: MysqlDatabase) -> FilePosition:
    conn = pymysql.connect(**settings(db))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return FilePosition(str(row[0]), int(row[1]))


def _wait_file(source: MysqlSource, running: Running, target: FilePosition) -> BinlogPosition:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if running.error is not None:
            raise running.error
        stored = stored_position(source)
        if stored is not None and stored.file is not None and target <= stored.file:
            return stored
        time.sleep(0.1)
    raise AssertionError(f"stored position did not reach {target}")


def test_file_positions_resume(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    execute(db, *(f"INSERT INTO t VALUES ({i}, 'v{i}')" for i in range(1, 50)))
    source = make_source(db, tmp_path, topic_name, position_mode=PositionMode.FILE)
    running = Running(source, kafka_bootstrap, registry_url)
    execute(db, "UPDATE t SET v = 'changed' WHERE id < 10", "DELETE FROM t WHERE id > 40")
    stored = _wait_file(source, running, _master_file(db))
    running.finish()
    assert stored.gtids is None  # file mode stores file:pos only
    running = Running(source, kafka_bootstrap, registry_url)
    execute(db, "INSERT INTO t VALUES (100, 'after restart')", "DELETE FROM t WHERE id = 1")
    _wait_file(source, running, _master_file(db))
    running.finish()
    assert_topics_equal_tables(
        db, kafka_bootstrap, registry_url, topic_name, [TableId(db.name, "t")]
    )


def test_unusable_position_stops_or_snapshots_again(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    execute(db, "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    source = make_source(db, tmp_path, topic_name)
    store = StateStore(FileOffsetStore(tmp_path / "my.offsets.json"))
    ahead = BinlogPosition(MariadbGtidPos.parse("0-1-999999999"))  # not from this server
    store.save(SourceState(ahead))

    error = Running(source, kafka_bootstrap, registry_url).join()
    assert isinstance(error, PreflightFailed), error
    assert "binlog_retention" in str(error) and error.fix is not None
    assert store.load() is not None and stored_position(source) == ahead

    when_needed = source.model_copy(
        update={"snapshot": SnapshotSettings(mode=SnapshotMode.WHEN_NEEDED)}
    )
    running = Running(when_needed, kafka_bootstrap, registry_url)
    assert running.connector.streaming.wait(60), running.error  # after a new snapshot
    assert stored_position(source) != ahead
    wait_caught_up(db, running)
    running.finish()
    assert stored_position(source) != ahead
    assert_topics_equal_tables(
        db, kafka_bootstrap, registry_url, topic_name, [TableId(db.name, "t")]
    )
