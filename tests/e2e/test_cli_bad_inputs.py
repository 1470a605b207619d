"""The table of bad inputs: each runs the real ``strangler`` console script and asserts its exact
stderr and exit code (2 configuration, 3 service unavailable), and that no traceback leaks.

Unreachable services are closed loopback ports (refused at once); authentication and privilege
cases use roles and users made for the test on the dev stack. The dev stack's PostgreSQL trusts
loopback connections (any password logs in), so a wrong PostgreSQL password cannot be produced
here: an unknown role stands for a login the server refuses, and the wrong-password text is
classified in tests/unit/cli/test_ops_units.py.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from strangler.cli.devstack.smoke import mysql_settings
from tests.support.cli import strangler

pytestmark = pytest.mark.e2e

CONFIG_FIX = (
    "  fix: correct the values named above; `strangler validate FILE` checks a file without "
    "starting anything\n"
)
PG_DOWN = (
    "error: PostgreSQL at 127.0.0.1:1 is unreachable: Connection refused\n"
    "  fix: check that the server runs and the dsn's host and port (pg_isready -h 127.0.0.1 "
    "-p 1)\n"
)
FAST_S = 10.0
"""Longest a bad input may take to be reported (closed ports fail at once; Kafka waits 3 s)."""


@dataclass
class Case:
    argv: list[str]
    code: int
    stderr: str
    env: dict[str, str] = field(default_factory=dict)
    stdout_line: str | None = None
    """A line the output must contain (doctor reports on stdout)."""


class Env:
    """What a case builder may use: its own directory and the dev stack's fixtures."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest) -> None:
        self.tmp = tmp
        self._request = request
        self.cleanups: list[Callable[[], None]] = []

    def fixture(self, name: str) -> Any:
        return self._request.getfixturevalue(name)

    def write(self, name: str, text: str) -> str:
        (self.tmp / name).write_text(text)
        return name

    def pipeline(
        self, sources: str = "", views: str = "", kafka: str = "", registry: str = ""
    ) -> str:
        kafka = kafka or "127.0.0.1:1"
        registry = registry or "http://127.0.0.1:1"
        text = (
            f"name: bad\nkafka: {{bootstrap_servers: '{kafka}'}}\nregistry: {{url: '{registry}'}}\n"
        )
        if sources:
            text += "sources:\n" + sources
        if views:
            text += "views:\n" + views
        return self.write("pipeline.yaml", text)


def pg_source(dsn: str, tables: str = "public.*") -> str:
    return (
        f"  - {{name: shop, dsn: '{dsn}', slot: bad_{uuid.uuid4().hex[:8]}, publication: bad_pub, "
        f"topic_prefix: bad, tables: {{include: ['{tables}']}}, state_dir: state}}\n"
    )


def mysql_source(url: str, include: str = "shop.*") -> str:
    return (
        f"  - {{type: mysql, name: shop, url: '{url}', server_id: 4711, topic_prefix: bad, "
        f"tables: {{include: ['{include}']}}, state_dir: state}}\n"
    )


# ---- the configuration file ----------------------------------------------------------------


def invalid(name: str, problem: str) -> Case:
    """``validate`` of file ``name`` exits 2 naming ``problem`` (file:line:column: key: what)."""
    return Case(["validate", name], 2, f"error: invalid configuration:\n  {problem}\n{CONFIG_FIX}")


def malformed_yaml(env: Env) -> Case:
    name = env.write("bad.yaml", "name: x\nkafka:\n  bootstrap_servers: [a, b\nregistry: {}\n")
    return Case(
        ["validate", name],
        2,
        "error: bad.yaml:4:9: invalid YAML: expected ',' or ']', but got ':'\n"
        "  fix: fix the syntax at that position (indentation, a missing ':' or quote)\n",
    )


def unknown_key(env: Env) -> Case:
    name = env.write("bad.yaml", "name: x\nkafka: {bootstrap_servers: a, partitons: 3}\n")
    return invalid(name, "bad.yaml:2:31: kafka.partitons: unknown key; did you mean 'partitions'?")


def wrong_type(env: Env) -> Case:
    name = env.write("bad.yaml", "name: x\nkafka: {bootstrap_servers: a, partitions: many}\n")
    return invalid(
        name,
        "bad.yaml:2:31: kafka.partitions: Input should be a valid integer, unable to "
        "parse string as an integer (got 'many')",
    )


def bad_enum(env: Env) -> Case:
    name = env.pipeline(
        pg_source("postgresql://u@h/d").replace("state}\n", "state, snapshot: {mode: sometimes}}\n")
    )
    return invalid(
        name,
        f"pipeline.yaml:5:{_column(env, 'mode:')}: sources.0.snapshot.mode: Input "
        "should be 'initial', 'never', 'when_needed' or 'initial_only' (got 'sometimes')",
    )


def _column(env: Env, word: str) -> int:
    line = (env.tmp / "pipeline.yaml").read_text().splitlines()[4]
    return line.index(word) + 1


def missing_env_variable(env: Env) -> Case:
    name = env.pipeline(pg_source("postgresql://u:${NO_SUCH_PASSWORD_X}@h/d"))
    return Case(
        ["validate", name],
        2,
        f"error: pipeline.yaml:5:{_column(env, 'dsn')}: environment variable NO_SUCH_PASSWORD_X is "
        "not set\n"
        "  fix: export NO_SUCH_PASSWORD_X=... before running, or write "
        "${NO_SUCH_PASSWORD_X:-default} in the file\n",
    )


def missing_section(env: Env) -> Case:
    name = env.write("bad.yaml", "name: x\nregistry: {url: 'http://r'}\n")
    return invalid(name, "bad.yaml:1:1: kafka: required key is missing")


def registry_missing_for_views(env: Env) -> Case:
    name = env.write(
        "bad.yaml",
        "name: x\nkafka: {bootstrap_servers: a}\nviews:\n"
        "  - {name: v, target: {sqlite: {path: v.db}}, topics: [{topic: a.b.c}]}\n",
    )
    return invalid(
        name,
        "bad.yaml:1:1: (top level): sources and views need a `registry:` section with its url",
    )


def file_not_found(env: Env) -> Case:
    return Case(
        ["doctor", "nowhere.yaml"],
        2,
        "Usage: strangler doctor [OPTIONS] FILE\n"
        "Try 'strangler doctor --help' for help.\n\n"
        "Error: Invalid value for 'FILE': File 'nowhere.yaml' does not exist.\n",
    )


def unknown_source_type(env: Env) -> Case:
    name = env.pipeline("  - {type: oracle, name: s}\n")
    return invalid(
        name, "pipeline.yaml:5:5: sources.0: type 'oracle' is not one of 'postgres', 'mysql'"
    )


_VIEW = (
    "  - name: v\n    target: {{sqlite: {{path: v.db}}}}\n    topics:\n      - topic: a.b.c\n"
    "        filter: {{all: [{cond}]}}\n"
)


def filter_value_wrong(env: Env) -> Case:
    name = env.pipeline(views=_VIEW.format(cond="{column: c, op: in, value: 3}"))
    return invalid(name, "pipeline.yaml:9:24: views.0.topics.0.filter.all.0: op in takes a list")


def filter_op_unknown(env: Env) -> Case:
    name = env.pipeline(views=_VIEW.format(cond="{column: c, op: like, value: 'a%'}"))
    return invalid(
        name,
        "pipeline.yaml:9:36: views.0.topics.0.filter.all.0.op: Input should be 'eq', "
        "'ne', 'lt', 'le', 'gt', 'ge', 'in', 'not_in', 'is_null' or 'not_null' (got 'like')",
    )


# ---- services down -------------------------------------------------------------------------


def postgres_unreachable(env: Env) -> Case:
    name = env.pipeline(pg_source("postgresql://postgres@127.0.0.1:1/shop"))
    return Case(["connect", name, "--check"], 3, PG_DOWN)


def mariadb_unreachable(env: Env) -> Case:
    name = env.pipeline(mysql_source("mysql://u:p@127.0.0.1:1/"))
    return Case(
        ["connect", name, "--check"],
        3,
        "error: MySQL/MariaDB at 127.0.0.1:1 is unreachable: Can't connect to MySQL server "
        "on '127.0.0.1' ([Errno 111] Connection refused)\n"
        "  fix: check that the server runs and the url's host and port (mysqladmin -h "
        "127.0.0.1 -P 1 ping)\n",
    )


def kafka_unreachable(env: Env) -> Case:
    name = env.pipeline(pg_source("postgresql://u@h/d"))
    return Case(
        ["topics", "describe", name],
        3,
        "error: Kafka at 127.0.0.1:1 is unreachable: Failed to get metadata: Local: "
        "Broker transport failure\n"
        "  fix: check kafka.bootstrap_servers and that the brokers run "
        "(kafka-broker-api-versions.sh --bootstrap-server 127.0.0.1:1)\n",
    )


def registry_unreachable(env: Env) -> Case:
    name = env.pipeline(pg_source("postgresql://u@h/d"), kafka=env.fixture("kafka_bootstrap"))
    return Case(
        ["topics", "describe", name],
        3,
        "error: the schema registry at http://127.0.0.1:1 is unreachable: [Errno 111] "
        "Connection refused\n"
        "  fix: check registry.url and that the registry runs (curl "
        "http://127.0.0.1:1/config)\n",
    )


def everything_down_doctor(env: Env) -> Case:
    name = env.pipeline(pg_source("postgresql://postgres@127.0.0.1:1/shop"))
    return Case(["doctor", name], 3, "", stdout_line="3 check(s): 3 failed, 0 warning(s)")


def init_unreachable(env: Env) -> Case:
    return Case(["init", "postgresql://postgres:secret@127.0.0.1:1/shop"], 3, PG_DOWN)


def init_not_a_database_url(env: Env) -> Case:
    return Case(
        ["init", "sqlite:///legacy.db"],
        2,
        "error: 'sqlite:///legacy.db' is not a database URL strangler can inspect\n"
        "  fix: give postgresql://user:password@host:5432/database or "
        "mysql://user:password@host:3306/database\n",
    )


def init_would_overwrite(env: Env) -> Case:
    env.write("pipeline.yaml", "name: mine\n")
    return Case(
        ["init", "postgresql://postgres@127.0.0.1:1/shop"],
        2,
        "error: pipeline.yaml exists; not overwriting it\n"
        "  fix: pass --force, or -o another file\n",
    )


# ---- authentication and privileges ---------------------------------------------------------


def _pg_as(dsn: str, user: str) -> str:
    return make_conninfo(dsn, user=user)


def postgres_login_refused(env: Env) -> Case:
    dsn = env.fixture("pg_dsn")
    port = conninfo_to_dict(dsn).get("port")
    name = env.pipeline(pg_source(_pg_as(dsn, "no_such_role_x")))
    return Case(
        ["connect", name, "--check"],
        2,
        f"error: PostgreSQL at 127.0.0.1:{port} refused the connection: role "
        '"no_such_role_x" does not exist\n'
        "  fix: check the user, password and database of the dsn (a password written as "
        "${VAR} comes from the environment)\n",
    )


def postgres_role_without_replication(env: Env) -> Case:
    database = env.fixture("pg_database")
    role = f"norepl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, qty int)")
        conn.execute(f'ALTER TABLE items OWNER TO "{role}"')
    server = env.fixture("pg_dsn")  # the test's database is dropped before this cleanup
    env.cleanups.append(lambda: _drop_role(server, role))
    name = env.pipeline(pg_source(_pg_as(database, role)))
    return Case(
        ["connect", name, "--check"],
        2,
        "error: preflight found 1 problem(s):\n"
        f"error: role: role {role} has neither REPLICATION nor superuser\n"
        f'  fix: ALTER ROLE "{role}" REPLICATION (as a superuser)\n',
    )


def _drop_role(dsn: str, role: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def postgres_table_without_key(env: Env) -> Case:
    database = env.fixture("pg_database")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE logs (at int, level int)")
    name = env.pipeline(pg_source(database))
    return Case(
        ["connect", name, "--check"],
        2,
        "error: preflight found 1 problem(s):\n"
        "error: public.logs: has no primary key and no configured key\n"
        '  fix: ALTER TABLE "public"."logs" ADD PRIMARY KEY (...), or set '
        "overrides.public.logs.key\n",
    )


def _mysql_user(env: Env, grants: str) -> tuple[str, str, str]:
    """A MariaDB user of this test (name, url with password pw1, database)."""
    db = env.fixture("mysql_database")
    user = f"bad_{uuid.uuid4().hex[:8]}"
    settings = mysql_settings(db.url)
    conn = pymysql.connect(**settings, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db.name}`.items (id INT PRIMARY KEY)")
        cur.execute(f"CREATE USER `{user}`@`%` IDENTIFIED BY 'pw1'")
        cur.execute(grants.format(db=db.name, user=user))
    conn.close()
    env.cleanups.append(lambda: _drop_user(settings, user))
    url = f"mysql://{user}:pw1@{settings['host']}:{settings['port']}/"
    return user, url, db.name


def _drop_user(settings: Any, user: str) -> None:
    conn = pymysql.connect(**settings, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS `{user}`@`%`")
    conn.close()


def mariadb_wrong_password(env: Env) -> Case:
    user, url, db = _mysql_user(env, "GRANT SELECT ON `{db}`.* TO `{user}`@`%`")
    host_port = url.rpartition("@")[2].rstrip("/")
    name = env.pipeline(mysql_source(url.replace(":pw1@", ":wrong@"), f"{db}.*"))
    return Case(
        ["connect", name, "--check"],
        2,
        f"error: MySQL/MariaDB at {host_port} refused the connection: Access denied for "
        f"user '{user}'@'127.0.0.1' (using password: YES)\n"
        "  fix: check the user and password of the url (a password written as ${VAR} "
        "comes from the environment)\n",
    )


def mariadb_without_replication_grants(env: Env) -> Case:
    _, url, db = _mysql_user(env, "GRANT SELECT ON `{db}`.* TO `{user}`@`%`")
    name = env.pipeline(mysql_source(url, f"{db}.*"))
    return Case(
        ["connect", name, "--check"],
        2,
        "error: preflight failed:\n"
        "[privileges] the connector's user lacks REPLICATION SLAVE, REPLICATION CLIENT "
        "(BINLOG MONITOR on MariaDB) on *.*\n"
        "  fix: GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO "
        "<user> (MariaDB 10.5+: BINLOG MONITOR instead of REPLICATION CLIENT)\n"
        "  fix: apply the fixes above, then start the connector again\n",
    )


# ---- operations ----------------------------------------------------------------------------


def _stored_mysql_state(env: Env) -> str:
    (env.tmp / "state").mkdir(exist_ok=True)
    env.write("state/shop.offsets.json", '{"version": 1, "position": "0-1-5@", "tables": []}')
    return env.pipeline(mysql_source("mysql://u:p@127.0.0.1:1/"))


def teardown_without_yes(env: Env) -> Case:
    name = _stored_mysql_state(env)
    return Case(
        ["teardown", name],
        2,
        "error: teardown needs confirmation, and stdin is not a terminal\n"
        "  fix: check the list above, then run again with --yes\n",
        stdout_line="  - shop: stored position 0-1-5@ (file offset store)",
    )


def offsets_reset_unknown_source(env: Env) -> Case:
    name = _stored_mysql_state(env)
    return Case(
        ["offsets", "reset", name, "--source", "billing", "--to-snapshot"],
        2,
        "error: no source named billing\n  fix: use one of: shop\n",
    )


def offsets_reset_names_nothing(env: Env) -> Case:
    name = _stored_mysql_state(env)
    return Case(
        ["offsets", "reset", name, "--to-snapshot"],
        2,
        "error: name what to reset\n  fix: give exactly one of --source S or --view V\n",
    )


def offsets_reset_bad_position(env: Env) -> Case:
    name = _stored_mysql_state(env)
    return Case(
        ["offsets", "reset", name, "--source", "shop", "--position", "yesterday"],
        2,
        "error: --position 'yesterday': 'yesterday' is not file:pos like "
        "'binlog.000012:4711'\n"
        "  fix: give gtids@file:pos, gtids, or file:pos\n",
    )


CASES: dict[str, Callable[[Env], Case]] = {
    f.__name__: f
    for f in (
        malformed_yaml, unknown_key, wrong_type, bad_enum, missing_env_variable,
        missing_section, registry_missing_for_views, file_not_found, unknown_source_type,
        filter_value_wrong, filter_op_unknown, postgres_unreachable, mariadb_unreachable,
        kafka_unreachable, registry_unreachable, everything_down_doctor, init_unreachable,
        init_not_a_database_url, init_would_overwrite, postgres_login_refused,
        postgres_role_without_replication, postgres_table_without_key, mariadb_wrong_password,
        mariadb_without_replication_grants, teardown_without_yes, offsets_reset_unknown_source,
        offsets_reset_names_nothing, offsets_reset_bad_position,
    )
}  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    made = Env(tmp_path, request)
    yield made
    for cleanup in made.cleanups:
        cleanup()


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_bad_input(case_name: str, env: Env) -> None:
    case = CASES[case_name](env)
    started = time.monotonic()
    result = strangler(
        *case.argv, cwd=env.tmp, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, **case.env},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == case.stderr
    assert result.returncode == case.code, result.stdout + result.stderr
    if case.stdout_line is not None:
        assert case.stdout_line in result.stdout.splitlines(), result.stdout
    assert elapsed < FAST_S, f"{case_name} took {elapsed:.1f} s"


def test_the_table_has_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
