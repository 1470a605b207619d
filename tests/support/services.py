"""Real services for the test session, from one of three places:

1. endpoints in the environment (``STRANGLER_PG_DSN``, ``STRANGLER_MYSQL_URL``,
   ``STRANGLER_KAFKA_BOOTSTRAP``, ``STRANGLER_REGISTRY_URL``), e.g. after
   ``eval "$(strangler dev env)"``;
2. containers, when asked for explicitly with ``STRANGLER_TEST_DOCKER=1`` (testcontainers);
3. otherwise a private local stack (``strangler dev``'s code) in its own directory and ports,
   started on first use and stopped at the end of the session.

A service that cannot be had fails the run when ``CI`` or ``STRANGLER_REQUIRE_SERVICES`` is set,
and skips the tests that need it otherwise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from strangler.cli.devstack.settings import StackSettings
from strangler.cli.devstack.stack import Stack
from strangler.core.errors import StranglerError

ENV_VARS = {
    "postgres": "STRANGLER_PG_DSN",
    "mariadb": "STRANGLER_MYSQL_URL",
    "kafka": "STRANGLER_KAFKA_BOOTSTRAP",
    "registry": "STRANGLER_REGISTRY_URL",
}


class ServiceUnavailableForTests(Exception):
    """A service the tests need could not be reached or started."""


def services_required() -> bool:
    """True in CI or with the explicit switch: then a missing service is a failure."""
    flags = (os.environ.get("CI", ""), os.environ.get("STRANGLER_REQUIRE_SERVICES", ""))
    return any(f.lower() not in ("", "0", "false", "no") for f in flags)


def stack_settings_for_tests() -> StackSettings:
    """A stack of its own for tests, so they never touch a developer's dev stack data."""
    base = os.environ.get("STRANGLER_TEST_DIR") or str(
        Path(tempfile.gettempdir()) / f"strangler-test-{os.geteuid()}"
    )
    offset = int(os.environ.get("STRANGLER_TEST_PORT_OFFSET", "0"))  # two suites side by side
    return StackSettings(
        base_dir=Path(base),
        pg_port=25532 + offset,
        mysql_port=23406 + offset,
        kafka_port=29192 + offset,
        kafka_controller_port=29193 + offset,
        registry_port=28181 + offset,
    )


class Services:
    """Endpoints of the session's services, each provided on first use."""

    def __init__(self) -> None:
        self._endpoints: dict[str, str] = {}
        self._stack: Stack | None = None
        self._started: list[str] = []
        self._containers: list[object] = []

    def endpoint(self, name: str) -> str:
        if name not in self._endpoints:
            self._endpoints[name] = self._provide(name)
        return self._endpoints[name]

    def _provide(self, name: str) -> str:
        given = os.environ.get(ENV_VARS[name])
        if given:
            probe(name, given)
            return given
        if os.environ.get("STRANGLER_TEST_DOCKER") == "1":
            from tests.support.containers import start_container

            endpoint, container = start_container(name)
            self._containers.append(container)
            return endpoint
        return self._from_local_stack(name)

    def _from_local_stack(self, name: str) -> str:
        if self._stack is None:
            self._stack = Stack(stack_settings_for_tests())
        try:
            result = self._stack.up([name])
        except StranglerError as exc:
            raise ServiceUnavailableForTests(f"could not start {name}: {exc}") from exc
        self._started += [r.name for r in result if r.started]
        return self._stack.env()[ENV_VARS[name]]

    def close(self) -> None:
        """Stop what this session started (set STRANGLER_KEEP_STACK=1 to keep it running)."""
        if self._stack is not None and os.environ.get("STRANGLER_KEEP_STACK") != "1":
            self._stack.down(self._started)
        for container in self._containers:
            container.stop()  # type: ignore[attr-defined]


def probe(name: str, endpoint: str) -> None:
    """A real client call against a given endpoint; raises if it does not answer."""
    try:
        PROBES[name](endpoint)
    except Exception as exc:
        raise ServiceUnavailableForTests(
            f"{name} at {ENV_VARS[name]}={endpoint} is not reachable: {exc}"
        ) from exc


def _probe_postgres(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("SELECT 1")


def _probe_mariadb(url: str) -> None:
    import pymysql

    from strangler.cli.devstack.smoke import mysql_settings

    pymysql.connect(**mysql_settings(url), connect_timeout=5).close()


def _probe_kafka(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient

    AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=5)


def _probe_registry(url: str) -> None:
    import httpx

    httpx.get(f"{url.rstrip('/')}/subjects", timeout=5).raise_for_status()


PROBES: dict[str, Callable[[str], None]] = {
    "postgres": _probe_postgres,
    "mariadb": _probe_mariadb,
    "kafka": _probe_kafka,
    "registry": _probe_registry,
}
