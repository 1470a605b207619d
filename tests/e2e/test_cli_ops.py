"""The operational commands as an operator runs them, against the dev stack: ``init`` writes a
pipeline from a live database, ``validate`` and ``doctor`` pass it, ``connect`` and
``materialize`` fill a topic and a view, then ``topics describe``, ``offsets show|reset`` and
``teardown`` see and undo what was made."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg.conninfo import conninfo_to_dict

from strangler.cli.devstack.smoke import mysql_settings
from strangler.cli.init_cmd import password_variable
from tests.fixtures import MysqlDatabase
from tests.integration.connectors.mysql.my_support import execute
from tests.support.cli import STRANGLER, strangler
from tests.support.processes import wait_while_running

pytestmark = pytest.mark.e2e


class Cli:
    """Runs ``strangler`` in one directory with the dev stack's endpoints in its environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = {**os.environ, **env}

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = strangler(*args, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL)
        assert result.returncode == code, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def run_until(self, args: list[str], done: Callable[[], bool], timeout: float = 60) -> None:
        """Start a long-running command, wait for ``done``, stop it with SIGTERM."""
        process = subprocess.Popen(
            [STRANGLER, *args], cwd=self.cwd, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_while_running(done, process, timeout)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-3000:]


def _url(dsn: str, password: str) -> str:
    info = conninfo_to_dict(dsn)
    return (
        f"postgresql://{info.get('user', 'postgres')}:{password}@{info['host']}:{info['port']}/"
        f"{info['dbname']}"
    )


def _snapshot_done(path: Path) -> bool:
    """The connector's state file (PostgreSQL progress, MySQL offsets) has every table done."""
    if not path.exists():
        return False
    tables = json.loads(path.read_text()).get("tables") or []
    return bool(tables) and all(done for _, _, done, _ in tables)


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def test_postgres_pipeline_from_init_to_teardown(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE products (id int PRIMARY KEY, qty int)")
        conn.execute("CREATE TABLE audit (at int, what int)")
        conn.execute("INSERT INTO products VALUES (1, 10), (2, 20)")
    name = str(conninfo_to_dict(pg_database)["dbname"])
    variable = password_variable(name)
    cli = Cli(tmp_path, {"STRANGLER_KAFKA_BOOTSTRAP": kafka_bootstrap,
                         "STRANGLER_REGISTRY_URL": registry_url})  # fmt: skip

    # init: the keyed table captured, the keyless one excluded with a commented override
    wrote = cli("init", _url(pg_database, "s3cret"), "--prefix", topic_name)
    assert "wrote pipeline.yaml: 2 table(s), 1 without a primary key" in wrote.stdout
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "s3cret" not in text
    assert f":${{{variable}}}@" in text
    assert "        - public.products  # key (id), " in text
    assert "      exclude:\n        - public.audit  # NO PRIMARY KEY" in text
    assert "    #   public.audit: {key: [column]}" in text
    cli("init", _url(pg_database, "s3cret"), code=2)  # exists: refused without --force
    dsn_line = next(i for i, line in enumerate(text.splitlines(), 1) if "dsn:" in line)
    assert cli("validate", "pipeline.yaml", code=2).stderr.startswith(
        f"error: pipeline.yaml:{dsn_line}:5: environment variable {variable} is not set\n"
    )
    cli.env[variable] = "s3cret"
    cli("validate", "pipeline.yaml")
    with (tmp_path / "pipeline.yaml").open("a") as out:
        out.write(f"views:\n  - name: stock\n    target: {{sqlite: {{path: stock.db}}}}\n"
                  f"    topics: [{{topic: {topic_name}.public.products}}]\n")  # fmt: skip

    # doctor: everything is in order
    report = cli.json("doctor", "pipeline.yaml")
    assert report["ok"] is True
    assert {c["status"] for c in report["checks"]} == {"ok"}, report
    assert any(c["what"] == "role" for c in report["checks"])

    # connect and materialize fill the topic and the view
    progress = tmp_path / ".strangler" / "state" / f"{name}.snapshot.json"
    cli.run_until(["connect", "pipeline.yaml"], lambda: _snapshot_done(progress))
    cli("materialize", "pipeline.yaml", "--idle-exit", "1")

    topic = f"{topic_name}.public.products"
    (described,) = cli.json("topics", "describe", "pipeline.yaml")["topics"]
    assert described["topic"] == topic
    assert (described["partitions"], described["cleanup_policy"]) == (1, "compact")
    assert described["end_offsets"] == {"0": 2} and described["records"] == 2
    assert described["value_schema"].startswith(f"{topic}-value v1 id ")
    assert described["key_schema"].startswith(f"{topic}-key v1 id ")

    shown = cli.json("offsets", "show", "pipeline.yaml")
    (source,) = shown["sources"]
    assert source["snapshot"] == "1 of 1 table(s) done" and source["position"] is not None
    assert [(v["view"], v["topic"], v["next_offset"]) for v in shown["views"]] == [
        ("stock", topic, 2)
    ]

    # resets: a view is rebuilt; a slot moves forward, then goes for a new snapshot
    cli("offsets", "reset", "pipeline.yaml", "--view", "stock", code=2)  # no terminal, no --yes
    rebuilt = cli("offsets", "reset", "pipeline.yaml", "--view", "stock", "--yes")
    assert "view stock rebuilt and swapped in" in rebuilt.stdout
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO audit VALUES (1, 1)")  # WAL moves past the slot
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    cli("offsets", "reset", "pipeline.yaml", "--source", name, "--position", row[0], "--yes")
    assert cli.json("offsets", "show", "pipeline.yaml")["sources"][0]["position"] == row[0]
    cli("offsets", "reset", "pipeline.yaml", "--source", name, "--to-snapshot", "--yes")
    assert not progress.exists()
    assert cli.json("offsets", "show", "pipeline.yaml")["sources"][0]["detail"] == "no slot yet"

    # teardown lists what exists, drops it, and then finds nothing
    torn = cli("teardown", "pipeline.yaml", "--topics", "--views", "--yes")
    publication = text.split("    publication: ", 1)[1].split()[0]
    assert f"  - {name}: publication {publication} of database {name}" in torn.stdout
    assert f"  - topic {topic}" in torn.stdout
    assert f"  - subject {topic}-value (schema registry)" in torn.stdout
    assert "view stock: offsets and table shapes forgotten" in torn.stdout
    assert topic not in _topics(kafka_bootstrap)
    left = httpx.get(f"{registry_url}/subjects", params={"deleted": "true"}).json()
    assert not [s for s in left if s.startswith(topic)]  # permanently deleted
    assert cli("teardown", "pipeline.yaml", "--yes").stdout == "nothing to teardown\n"


def test_mysql_pipeline_from_init_to_teardown(
    mysql_database: MysqlDatabase,
    kafka_bootstrap: str,
    registry_url: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    settings = mysql_settings(mysql_database.url)
    execute(mysql_database, "CREATE TABLE items (id INT PRIMARY KEY, n INT)",
            "INSERT INTO items VALUES (1, 1), (2, 2)")  # fmt: skip
    url = (
        f"mysql://{settings['user']}:{settings['password']}@{settings['host']}:"
        f"{settings['port']}/{mysql_database.name}"
    )
    cli = Cli(tmp_path, {"STRANGLER_KAFKA_BOOTSTRAP": kafka_bootstrap,
                         "STRANGLER_REGISTRY_URL": registry_url})  # fmt: skip
    cli("init", url, "--prefix", topic_name, "--name", "inventory")
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "  - type: mysql\n    name: inventory\n" in text
    assert f"        - {mysql_database.name}.items  # key (id)" in text
    where = f"{settings['host']}:{settings['port']}/{mysql_database.name}"
    assert (
        f'    url: "mysql://{settings["user"]}:${{STRANGLER_INVENTORY_PASSWORD}}@{where}"' in text
    )
    cli.env["STRANGLER_INVENTORY_PASSWORD"] = settings["password"]

    report = cli.json("doctor", "pipeline.yaml")
    assert report["ok"] is True, report
    assert not [c for c in report["checks"] if c["status"] == "fail"]

    state = tmp_path / ".strangler" / "state" / "inventory.offsets.json"
    cli.run_until(["connect", "pipeline.yaml"], lambda: _snapshot_done(state))
    (source,) = cli.json("offsets", "show", "pipeline.yaml")["sources"]
    assert source["type"] == "mysql" and source["snapshot"] == "1 of 1 table(s) done"
    assert "@" in source["position"]

    cli("offsets", "reset", "pipeline.yaml", "--source", "inventory", "--position",
        "0-1-1@mysql-bin.000001:4", "--yes")  # fmt: skip
    (source,) = cli.json("offsets", "show", "pipeline.yaml")["sources"]
    assert source["position"] == "0-1-1@mysql-bin.000001:4"
    assert source["snapshot"] == "1 of 1 table(s) done"  # the progress is kept

    torn = cli("teardown", "pipeline.yaml", "--yes")
    assert "inventory: dropped stored position of inventory (file offset store)" in torn.stdout
    assert not state.exists()


def test_doctor_names_each_failure_with_its_fix(
    pg_database: str, kafka_bootstrap: str, registry_url: str, topic_name: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE logs (at int)")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    deleting = f"{topic_name}.public.logs"  # a table topic that would lose rows by age
    for future in admin.create_topics([NewTopic(deleting, 1, 1)]).values():
        future.result(30)
    (tmp_path / "pipeline.yaml").write_text(
        f"name: doc\nkafka: {{bootstrap_servers: '{kafka_bootstrap}', replication_factor: 3}}\n"
        f"registry: {{url: '{registry_url}'}}\n"
        f"sources:\n  - {{name: shop, dsn: '{pg_database}', slot: doc_unused, publication: "
        f"doc_pub, topic_prefix: {topic_name}, tables: {{include: [public.*]}}}}\n"
        "views:\n  - {name: v, target: {sqlite: {path: v.db}}, topics: [{topic: elsewhere.t}]}\n"
    )
    cli = Cli(tmp_path, {})
    started = time.monotonic()
    report = cli.json("doctor", "pipeline.yaml", code=2)
    assert time.monotonic() - started < 10
    problems = {(c["status"], c["component"], c["what"]): c for c in report["checks"]}
    factor = problems["fail", "kafka", "replication factor"]
    assert factor["fix"].startswith("set kafka.replication_factor to at most 1")
    assert factor["exit_code"] == 2
    policy = problems["fail", "kafka", f"topic {deleting}"]
    assert policy["detail"] == "cleanup.policy=delete, not compact"
    key = problems["fail", "source shop", "public.logs"]
    assert key["detail"] == "has no primary key and no configured key"
    assert ("warn", "view v", "topic elsewhere.t") in problems
    assert ("ok", "view v", "sqlite") in problems
    human = cli("doctor", "pipeline.yaml", code=2).stdout.splitlines()
    assert human[0].split() == ["STATUS", "COMPONENT", "WHAT", "DETAIL", "FIX"]
    assert human[-1] == f"{len(report['checks'])} check(s): 3 failed, 1 warning(s)"
    admin.delete_topics([deleting])


def test_teardown_asks_on_a_terminal_and_does_nothing_when_declined(tmp_path: Path) -> None:
    state = tmp_path / "state" / "shop.offsets.json"
    state.parent.mkdir()
    state.write_text('{"version": 1, "position": "0-1-9@", "tables": []}')
    (tmp_path / "pipeline.yaml").write_text(
        "name: ask\nkafka: {bootstrap_servers: '127.0.0.1:1'}\nregistry: {url: 'http://h'}\n"
        "sources:\n  - {type: mysql, name: shop, url: 'mysql://u:p@127.0.0.1:1/', server_id: 9,"
        " topic_prefix: ask, tables: {include: [shop.*]}, state_dir: state}\n"
    )

    def answer(text: str) -> subprocess.CompletedProcess[str]:
        controller, terminal = pty.openpty()
        try:
            os.write(controller, text.encode())
            return strangler("teardown", "pipeline.yaml", cwd=tmp_path, stdin=terminal, timeout=60)
        finally:
            os.close(controller)
            os.close(terminal)

    declined = answer("n\n")
    assert declined.returncode == 130 and declined.stderr == "aborted\n"
    assert "  - shop: stored position 0-1-9@ (file offset store)" in declined.stdout
    assert "proceed? [y/N]" in declined.stdout and state.exists()
    accepted = answer("y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "shop: dropped stored position of shop (file offset store)" in accepted.stdout
    assert not state.exists()
