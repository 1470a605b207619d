"""Pure parts of doctor, offsets, topics, teardown's confirmation, and what a failed database
connection is reported as."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import psycopg
import pytest
from click.testing import CliRunner

from strangler.cli.confirm import confirm
from strangler.cli.doctor_cmd import Status, _sqlite_target, exit_code, fail, ok, warn
from strangler.cli.positions import describe_position
from strangler.cli.topics_cmd import source_topics
from strangler.connectors.postgres.config import PostgresSource
from strangler.connectors.postgres.connector import connection_failed
from strangler.core.errors import ConfigError, ServiceUnavailable
from strangler.materializers.positions import PositionKind, sort_key

pytestmark = pytest.mark.unit


def test_doctor_exit_code_is_the_first_failures() -> None:
    assert exit_code([ok("kafka", "reachable", "")]) == 0
    assert exit_code([warn("a", "b", "c", "d"), ok("kafka", "reachable", "")]) == 0
    checks = [ok("x", "y", "z"), fail("registry", "reachable", "down", "start it", 3),
              fail("source s", "role", "no REPLICATION", "ALTER ROLE", 2)]  # fmt: skip
    assert exit_code(checks) == 3
    assert exit_code(list(reversed(checks))) == 2


def test_sqlite_target_checks(tmp_path: Path) -> None:
    assert _sqlite_target(tmp_path / "new" / "deeper" / "v.db", "view v").status is Status.OK
    (tmp_path / "junk.db").write_bytes(b"this is not a database, just some bytes" * 100)
    broken = _sqlite_target(tmp_path / "junk.db", "view v")
    assert broken.status is Status.FAIL and "is not a SQLite database" in broken.detail
    sqlite3.connect(tmp_path / "real.db").execute("CREATE TABLE t (a)").connection.close()
    assert _sqlite_target(tmp_path / "real.db", "view v").detail.endswith("exists and is writable")


@pytest.mark.parametrize(
    ("kind", "text", "shown"),
    [
        (PositionKind.PG_LSN, "16/B374D848", "16/B374D848"),
        (PositionKind.INTEGER, "42", "42"),
        (PositionKind.MYSQL_FILE_POS, "mysql-bin.000042:1234", "binlog #42:1234"),
    ],
)
def test_view_positions_are_shown_as_positions(kind: PositionKind, text: str, shown: str) -> None:
    assert describe_position(sort_key(kind, text), kind) == shown


def _source(include: list[str], exclude: list[str] | None = None) -> PostgresSource:
    return PostgresSource.model_validate({
        "name": "s", "dsn": "postgresql://h/d", "slot": "s", "publication": "p",
        "topic_prefix": "shop", "tables": {"include": include, "exclude": exclude or []},
    })  # fmt: skip


def test_source_topics_follow_the_table_patterns() -> None:
    existing = {
        "shop.public.orders", "shop.public.audit_log", "shop._strangler_offsets",
        "shopping.public.orders", "other.public.orders", "shop.sales.orders",
    }  # fmt: skip
    source = _source(["public.*"], ["public.audit_*"])
    assert source_topics(source, existing) == ["shop.public.orders"]
    assert source_topics(_source(["*.orders"]), existing) == [
        "shop.public.orders", "shop.sales.orders",
    ]  # fmt: skip


def _ask(yes: bool, stdin: str | None = None) -> tuple[int, str, bool | None]:
    decided: list[bool] = []

    @click.command()
    def command() -> None:
        decided.append(confirm("teardown", ["slot s", "topic t"], yes=yes))

    result = CliRunner().invoke(command, input=stdin)
    return result.exit_code, result.output, decided[0] if decided else None


def test_confirmation_lists_the_plan_and_refuses_without_a_terminal() -> None:
    code, output, decided = _ask(yes=True)
    assert (code, decided) == (0, True)
    assert output == "teardown will:\n  - slot s\n  - topic t\n"
    code, _, decided = _ask(yes=False)  # CliRunner's stdin is not a terminal
    assert decided is None and code == 1


def test_nothing_to_do_needs_no_confirmation() -> None:
    assert CliRunner().invoke(click.command()(lambda: confirm("teardown", [], yes=False))).output \
        == "nothing to teardown\n"  # fmt: skip


def test_not_a_terminal_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="stdin is not a terminal"):
        confirm("teardown", ["slot s"], yes=False)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            'connection failed: connection to server at "10.0.0.9", port 5432 failed: FATAL:  '
            'password authentication failed for user "app"',
            ConfigError,
            "PostgreSQL at db:6432 refused the connection: password authentication failed for "
            'user "app"',
        ),
        (
            'connection failed: connection to server at "10.0.0.9", port 5432 failed: timeout '
            "expired",
            ServiceUnavailable,
            "PostgreSQL at db:6432 is unreachable: timeout expired",
        ),
        (
            "failed to resolve host 'db': [Errno -2] Name or service not known",
            ServiceUnavailable,
            "PostgreSQL at db:6432 is unreachable: failed to resolve host 'db': [Errno -2] Name "
            "or service not known",
        ),
    ],
)
def test_a_failed_postgres_connection_says_refused_or_unreachable(
    text: str, kind: type[Exception], message: str
) -> None:
    error = connection_failed(psycopg.OperationalError(text), "postgresql://app:pw@db:6432/shop")
    assert isinstance(error, kind)
    assert error.message == message
    assert ":pw@" not in str(error)
