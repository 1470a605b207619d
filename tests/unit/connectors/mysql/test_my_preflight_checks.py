"""Preflight checks as pure functions of server facts."""

from __future__ import annotations

import pytest

from strangler.connectors.mysql.positions import BinlogPosition, MariadbGtidPos, MysqlGtidSet
from strangler.connectors.mysql.preflight import (
    check_binlog,
    check_grants,
    check_gtid_mode,
    check_retention_file,
    check_retention_mariadb,
    check_retention_mysql,
    check_server_id,
)

pytestmark = pytest.mark.unit

GOOD = {
    "log_bin": "ON",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
    "server_id": "1",
}
SID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def test_binlog_settings() -> None:
    assert check_binlog(GOOD) == []
    assert [f.check for f in check_binlog({**GOOD, "log_bin": "OFF"})] == ["log_bin"]
    wrong = check_binlog({**GOOD, "binlog_format": "MIXED", "binlog_row_image": "MINIMAL"})
    assert [f.check for f in wrong] == ["binlog_format", "binlog_row_image"]
    old = check_binlog({k: v for k, v in GOOD.items() if k != "binlog_row_metadata"})
    assert "column names are lost" in old[0].message and "binlog_row_metadata=FULL" in old[0].fix


def test_server_id_must_be_unique() -> None:
    assert check_server_id(4242, GOOD, [7]) == []
    assert check_server_id(1, GOOD, []) and check_server_id(7, GOOD, [7])
    assert check_server_id(0, GOOD, [])


def test_grants() -> None:
    assert check_grants(["GRANT ALL PRIVILEGES ON *.* TO `s`@`%`"]) == []
    assert check_grants(["GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `r`@`%`"]) == []
    (finding,) = check_grants(["GRANT SELECT ON *.* TO `r`@`%`", "GRANT ALL ON `db`.* TO `r`"])
    assert "REPLICATION SLAVE" in finding.message and "GRANT" in finding.fix


def test_gtid_mode_is_advice() -> None:
    assert check_gtid_mode({"gtid_strict_mode": "ON"}, mariadb=True) == []
    assert not check_gtid_mode({"gtid_strict_mode": "OFF"}, mariadb=True)[0].fatal
    assert check_gtid_mode({"gtid_mode": "ON"}, mariadb=False) == []
    assert not check_gtid_mode({"gtid_mode": "OFF"}, mariadb=False)[0].fatal


def test_retention_says_a_new_snapshot_is_needed() -> None:
    oldest, now = MariadbGtidPos.parse("0-1-100"), MariadbGtidPos.parse("0-1-500")
    assert check_retention_mariadb(MariadbGtidPos.parse("0-1-100"), oldest, now) == []
    (purged,) = check_retention_mariadb(MariadbGtidPos.parse("0-1-99"), oldest, now)
    assert "new snapshot is needed" in purged.message and "snapshot" in purged.fix
    (ahead,) = check_retention_mariadb(MariadbGtidPos.parse("0-1-501"), oldest, now)
    assert "ahead" in ahead.message
    assert (
        check_retention_mysql(MysqlGtidSet.parse(f"{SID}:1-9"), MysqlGtidSet.parse(f"{SID}:1-5"))
        == []
    )
    assert check_retention_mysql(MysqlGtidSet.parse(f"{SID}:3-9"), MysqlGtidSet.parse(f"{SID}:1-5"))
    stored = BinlogPosition.parse("@binlog.000001:4")
    assert check_retention_file(stored, ["binlog.000001", "binlog.000002"]) == []
    assert "gone" in check_retention_file(stored, ["binlog.000002"])[0].message
