"""PostgreSQL from the system's packages: a throwaway cluster with wal_level=logical."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from strangler.cli.devstack.errors import ServiceStartFailed
from strangler.cli.devstack.prereqs import as_user, postgres_bindir, service_user
from strangler.cli.devstack.process import ProcessRecord, run
from strangler.cli.devstack.service import Service
from strangler.cli.devstack.settings import HOST

# Written once at initdb; port, address and socket directory are passed at every start instead,
# so a changed port needs no new cluster.
CLUSTER_CONF = """
# strangler dev stack
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_connections = 200
wal_sender_timeout = 60s
# a throwaway cluster: durability traded for speed (never do this with data you keep)
fsync = off
full_page_writes = off
# new WAL segments are not zero-filled first (16 MB written twice while a cluster's WAL grows,
# a sixth of a view's apply time on this stack); for copy-on-write or throwaway disks
wal_init_zero = off
"""


class Postgres(Service):
    """A cluster in <base>/postgres, run as the postgres account when we are root."""

    name = "postgres"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def prepare(self) -> None:
        postgres_bindir()
        service_user("postgres")

    def endpoint(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.settings.pg_port}/postgres"

    def env(self) -> dict[str, str]:
        return {"STRANGLER_PG_DSN": self.endpoint()}

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        record = ProcessRecord.of(pid)
        return pid if record is not None else None

    def start(self) -> None:
        if self.pid() is not None:
            return
        self.ensure_ports_free({self.settings.pg_port: "--pg-port"})
        self._init_cluster()
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", self._server_options())
        self._await_ready()

    def stop(self) -> None:
        if self.pid() is not None:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    def _server_options(self) -> str:
        s = self.settings
        return f"-p {s.pg_port} -c listen_addresses={HOST} -c unix_socket_directories={self.home}"

    def _init_cluster(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        user = service_user("postgres")
        self.home.mkdir(parents=True, exist_ok=True)
        if user is not None:
            shutil.chown(self.home, user, user)
        os.chmod(self.home, 0o700)
        initdb = str(postgres_bindir() / "initdb")
        argv = [
            initdb,
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = run(as_user(user, argv))
        if result.returncode != 0:
            raise ServiceStartFailed(
                self.name, f"initdb failed:\n{result.stdout}{result.stderr}", None
            )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(CLUSTER_CONF)

    def _pg_ctl(self, *args: str) -> None:
        argv = [str(postgres_bindir() / "pg_ctl"), "-D", str(self.data), *args]
        result = run(as_user(service_user("postgres"), argv))
        if result.returncode != 0:
            reason = f"pg_ctl {args[0]} failed: {(result.stdout + result.stderr).strip()}"
            raise ServiceStartFailed(self.name, reason, self.log)

    def _await_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.endpoint(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServiceStartFailed(self.name, str(exc), self.log) from exc
                time.sleep(0.1)
