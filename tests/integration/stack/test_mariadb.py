"""The stack's MariaDB: the binlog is row-based with full images and metadata, and a row written
now is read back as a binlog row event with its column names."""

from __future__ import annotations

import pymysql
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent
from pymysqlreplication.row_event import WriteRowsEvent

from strangler.cli.devstack.smoke import mysql_settings
from tests.fixtures import MysqlDatabase

pytestmark = pytest.mark.integration


def test_binlog_settings_for_cdc(mysql_url: str) -> None:
    conn = pymysql.connect(**mysql_settings(mysql_url))
    with conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
            "'binlog_row_image', 'binlog_row_metadata', 'gtid_strict_mode')"
        )
        variables = dict(cur.fetchall())
    conn.close()
    assert variables == {
        "log_bin": "ON",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL",
        "gtid_strict_mode": "ON",
    }


def test_row_event_read_from_binlog_with_gtid(mysql_database: MysqlDatabase) -> None:
    settings = mysql_settings(mysql_database.url)
    conn = pymysql.connect(**settings, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{mysql_database.name}`.items (id INT PRIMARY KEY, name VARCHAR(20))"
        )
        cur.execute("SELECT @@gtid_binlog_pos")
        gtid = (cur.fetchone() or [""])[0]
        cur.execute(f"INSERT INTO `{mysql_database.name}`.items VALUES (7, 'widget')")
    conn.close()
    stream = BinLogStreamReader(
        connection_settings=settings,
        server_id=4242,
        is_mariadb=True,
        auto_position=gtid,
        blocking=False,
        only_events=[MariadbGtidEvent, WriteRowsEvent],
        only_schemas=[mysql_database.name],
        enable_logging=False,
    )
    try:
        events = list(stream)
    finally:
        stream.close()
    rows = [row["values"] for e in events if isinstance(e, WriteRowsEvent) for row in e.rows]
    assert rows == [{"id": 7, "name": "widget"}]
    assert any(isinstance(e, MariadbGtidEvent) for e in events)
