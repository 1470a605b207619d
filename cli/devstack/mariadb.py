"""MariaDB from the system's packages, with the row-based binlog that CDC reads."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from strangler.cli.devstack.errors import ServiceStartFailed
from strangler.cli.devstack.prereqs import mariadb_programs, service_user
from strangler.cli.devstack.process import ProcessRecord, run
from strangler.cli.devstack.service import SpawnedService
from strangler.cli.devstack.settings import HOST

# binlog_row_metadata=FULL puts column names in the binlog (without it rows arrive as
# UNKNOWN_COL0...); GTIDs are always on in MariaDB, strict mode makes them usable positions.
# innodb_flush_log_at_trx_commit=2 and sync_binlog=0 trade durability for speed: a dev stack only.
MY_CNF = """[mariadbd]
{user_line}datadir={data}
port={port}
bind-address={host}
socket={home}/mariadb.sock
pid-file={home}/mariadb.pid
log-error={log}
skip-name-resolve
server-id=1
log-bin={data}/binlog
binlog-format=ROW
binlog-row-image=FULL
binlog-row-metadata=FULL
gtid-domain-id=0
gtid-strict-mode=ON
log-slave-updates=ON
max-connections=200
innodb-buffer-pool-size=256M
innodb-flush-log-at-trx-commit=2
sync-binlog=0
"""

# The CDC account: what a connector needs (snapshot reads, binlog streaming) plus DDL for tests.
BOOTSTRAP_SQL = [
    "CREATE USER IF NOT EXISTS 'strangler'@'%' IDENTIFIED BY 'strangler'",
    "GRANT ALL PRIVILEGES ON *.* TO 'strangler'@'%' WITH GRANT OPTION",
]


class MariaDB(SpawnedService):
    """A server in <base>/mariadb, dropping to the mysql account when we are root."""

    name = "mariadb"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "error.log"

    @property
    def cnf(self) -> Path:
        return self.home / "my.cnf"

    def prepare(self) -> None:
        mariadb_programs()
        service_user("mysql")

    def endpoint(self) -> str:
        return f"mysql://strangler:strangler@{HOST}:{self.settings.mysql_port}/"

    def env(self) -> dict[str, str]:
        return {"STRANGLER_MYSQL_URL": self.endpoint()}

    def start(self) -> None:
        if self.pid() is not None:
            return
        self.ensure_ports_free({self.settings.mysql_port: "--mysql-port"})
        server, _ = mariadb_programs()
        self._install()
        pid = self.spawn([str(server), f"--defaults-file={self.cnf}"], self.home / "stdout.log")
        self._await_ready(pid)
        self._bootstrap()

    def _install(self) -> None:
        """Write my.cnf (every start: the port may have changed); create system tables once."""
        user = service_user("mysql")
        self.data.mkdir(parents=True, exist_ok=True)
        self.cnf.write_text(
            MY_CNF.format(
                user_line=f"user={user}\n" if user else "",
                data=self.data,
                home=self.home,
                port=self.settings.mysql_port,
                host=HOST,
                log=self.log,
            )
        )
        if user is not None:
            for path in (self.home, self.data):
                shutil.chown(path, user, user)
        if (self.data / "mysql").exists():
            return
        _, install_db = mariadb_programs()
        result = run(
            [
                str(install_db),
                f"--defaults-file={self.cnf}",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ]
        )
        if result.returncode != 0:
            raise ServiceStartFailed(
                self.name, f"mariadb-install-db failed:\n{result.stdout}{result.stderr}", self.log
            )

    def _await_ready(self, pid: int, timeout: float = 60.0) -> None:
        import pymysql

        deadline = time.monotonic() + timeout
        while True:
            if ProcessRecord.of(pid) is None:
                raise ServiceStartFailed(self.name, "the server exited", self.log)
            try:
                pymysql.connect(
                    unix_socket=str(self.home / "mariadb.sock"), user="root", connect_timeout=2
                ).close()
                return
            except pymysql.err.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceStartFailed(self.name, str(exc), self.log) from exc
                time.sleep(0.1)

    def _bootstrap(self) -> None:
        """Create the CDC account (idempotent, so an interrupted first start heals itself)."""
        import pymysql

        conn = pymysql.connect(unix_socket=str(self.home / "mariadb.sock"), user="root")
        try:
            with conn.cursor() as cur:
                for sql in BOOTSTRAP_SQL:
                    cur.execute(sql)
        finally:
            conn.close()
