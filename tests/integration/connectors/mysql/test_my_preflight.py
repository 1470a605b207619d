"""Preflight against the stack's MariaDB: configured for CDC, so only planted problems show."""

from __future__ import annotations

import pymysql
import pytest

from strangler.connectors.mysql.positions import BinlogPosition, MariadbGtidPos
from strangler.connectors.mysql.preflight import preflight
from strangler.core.events import TableId
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute, position_now, settings

pytestmark = pytest.mark.integration


def test_preflight_on_the_stack(mysql_database: MysqlDatabase) -> None:
    db = mysql_database
    execute(db, "CREATE TABLE keyed (id int PRIMARY KEY)", "CREATE TABLE loose (v int)")
    execute(db, "INSERT INTO keyed VALUES (1)")
    now = position_now(db)
    tables = [TableId(db.name, "keyed"), TableId(db.name, "loose")]
    conn = pymysql.connect(**settings(db))
    try:
        findings = preflight(conn, server_id=987654, tables=tables, stored=now)
        assert [(f.check, f.fatal) for f in findings] == [("primary_key", True)]
        assert "loose" in findings[0].message
        clash = preflight(conn, server_id=1)  # the server's own id
        assert [f.check for f in clash] == ["server_id"]
        assert isinstance(now.gtids, MariadbGtidPos)
        ahead = BinlogPosition(MariadbGtidPos.parse(f"0-1-{now.gtids.seq(0) + 1000}"))
        assert [f.check for f in preflight(conn, server_id=987654, stored=ahead)] == [
            "binlog_retention"
        ]
        gone = BinlogPosition.parse("@binlog.000000:4")
        (finding,) = preflight(conn, server_id=987654, stored=gone)
        assert "new snapshot is needed" in finding.message
    finally:
        conn.close()
