"""Session fixtures for real services and per-test isolated resources (a pytest plugin, loaded
by tests/conftest.py, and by name with ``-p tests.fixtures`` where a test runs pytest itself)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import Services, ServiceUnavailableForTests, services_required

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    provided = Services()
    yield provided
    provided.close()


def _endpoint(services: Services, name: str) -> str:
    try:
        return services.endpoint(name)
    except ServiceUnavailableForTests as exc:
        if services_required():
            pytest.fail(f"required service unavailable: {exc}", pytrace=False)
        pytest.skip(f"{exc} (set CI=1 or STRANGLER_REQUIRE_SERVICES=1 to fail instead)")


@pytest.fixture(scope="session")
def pg_dsn(services: Services) -> str:
    """Superuser DSN of a real PostgreSQL with wal_level=logical."""
    return _endpoint(services, "postgres")


@pytest.fixture(scope="session")
def mysql_url(services: Services) -> str:
    """mysql://user:password@host:port/ of a real MariaDB with a row-based binlog."""
    return _endpoint(services, "mariadb")


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    """host:port of a real Kafka broker (transactions and compaction work)."""
    return _endpoint(services, "kafka")


@pytest.fixture(scope="session")
def registry_url(services: Services) -> str:
    """Base URL of strangler's schema registry (Kafka storage) on the session's Kafka."""
    return _endpoint(services, "registry")


def unique_name(request: pytest.FixtureRequest, prefix: str, max_len: int = 60) -> str:
    """A name no other test uses: prefix, the test's name, and a random suffix."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    suffix = uuid.uuid4().hex[:8]
    return f"{prefix}_{stem[: max_len - len(prefix) - 10]}_{suffix}"


@pytest.fixture
def pg_database(pg_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a fresh database of this test's own; dropped afterwards with its slots."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = unique_name(request, "t")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(pg_dsn, dbname=name)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s AND NOT active",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class MysqlDatabase:
    """A MariaDB database of one test's own."""

    url: str
    name: str


@pytest.fixture
def mysql_database(mysql_url: str, request: pytest.FixtureRequest) -> Iterator[MysqlDatabase]:
    """A fresh MariaDB database (schema) for this test; dropped afterwards."""
    import pymysql

    from strangler.cli.devstack.smoke import mysql_settings

    name = unique_name(request, "t", max_len=64)
    conn = pymysql.connect(**mysql_settings(mysql_url), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield MysqlDatabase(mysql_url, name)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A Kafka topic name no other test uses (the topic itself is not created)."""
    return unique_name(request, "t").replace("_", "-")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked sample_data run only where ../shared/data exists."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"sample data folder {SHARED_DATA} not present")
    for item in items:
        if "sample_data" in item.keywords:
            item.add_marker(skip)
