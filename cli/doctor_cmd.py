"""``strangler doctor FILE``: a live preflight of everything a pipeline touches.

Kafka, the registry, every source (through the connectors' own preflight checks) and every
view target are checked with short timeouts, so the command answers in seconds even with every
service down. Each finding is one line: status (ok / warn / fail), what was checked, what was
seen and the fix.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strangler.cli.output import emit_json, table
from strangler.cli.services import TIMEOUT_S
from strangler.core.errors import StranglerError

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.materializers.config import ViewConfig


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding of the doctor."""

    status: Status
    component: str
    """``kafka``, ``registry``, ``source <name>`` or ``view <name>``."""
    what: str
    detail: str
    fix: str = ""
    exit_code: int = 0
    """For a failure: the exit code of its error class (3 unreachable, 2 configuration)."""


def ok(component: str, what: str, detail: str) -> Check:
    return Check(Status.OK, component, what, detail)


def warn(component: str, what: str, detail: str, fix: str) -> Check:
    return Check(Status.WARN, component, what, detail, fix)


def fail(component: str, what: str, detail: str, fix: str, exit_code: int = 2) -> Check:
    return Check(Status.FAIL, component, what, detail, fix, exit_code)


def from_error(component: str, what: str, exc: StranglerError) -> Check:
    return fail(component, what, exc.message, exc.fix or "", exc.exit_code)


def exit_code(checks: list[Check]) -> int:
    """0 without failures, else the exit code of the first failure."""
    return next((c.exit_code or 1 for c in checks if c.status is Status.FAIL), 0)


# ---- Kafka ---------------------------------------------------------------------------------


@dataclass
class KafkaFacts:
    """What the Kafka checks learned, for the checks that follow (None: unreachable)."""

    topics: set[str] | None = None


def check_kafka(config: PipelineConfig, facts: KafkaFacts) -> Iterator[Check]:
    from strangler.cli.services import kafka_admin, kafka_metadata

    kafka, name = config.kafka, "kafka"
    admin = kafka_admin(kafka)
    try:
        metadata = kafka_metadata(admin, kafka)
    except StranglerError as exc:
        yield from_error(name, "reachable", exc)
        return
    facts.topics = set(metadata.topics)
    brokers = len(metadata.brokers)
    yield ok(name, "reachable", f"{kafka.bootstrap_servers}: {brokers} broker(s)")
    factor = kafka.replication_factor
    if factor > brokers:
        yield fail(
            name, "replication factor",
            f"replication_factor {factor} is more than the {brokers} broker(s)",
            f"set kafka.replication_factor to at most {brokers} (or -1: the brokers' default)",
        )  # fmt: skip
    yield _can_create_topics(admin, factor if factor <= brokers else -1)  # reported above
    yield from _table_topics(admin, config, facts.topics)
    yield _transactions(config)


def _can_create_topics(admin: Any, factor: int) -> Check:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    probe = NewTopic(f"_strangler_doctor_{uuid.uuid4().hex[:8]}", 1, factor,
                     config={"cleanup.policy": "compact"})  # fmt: skip
    futures = admin.create_topics([probe], validate_only=True, request_timeout=TIMEOUT_S)
    try:
        next(iter(futures.values())).result(TIMEOUT_S)
    except KafkaException as exc:
        return fail(
            "kafka", "create topics", f"a compacted topic cannot be created: {exc.args[0].str()}",
            "grant the client CREATE and DESCRIBE_CONFIGS on the cluster, or create the table "
            "topics beforehand (cleanup.policy=compact)",
        )  # fmt: skip
    return ok("kafka", "create topics", "a compacted topic can be created (validated only)")


def _table_topics(admin: Any, config: PipelineConfig, existing: set[str]) -> Iterator[Check]:
    """The sources' existing table topics must be compacted (the connector refuses others)."""
    from strangler.cli.topics_cmd import cleanup_policies, source_topics

    topics = sorted({t for s in config.sources for t in source_topics(s, existing)})
    if not topics:
        return
    policies = cleanup_policies(admin, topics)
    for topic in topics:
        policy = policies.get(topic)
        if policy is None:
            yield warn("kafka", f"topic {topic}", "its configuration could not be read",
                       "grant the client DESCRIBE_CONFIGS on the topic")  # fmt: skip
        elif "compact" not in policy.split(","):
            yield fail(
                "kafka", f"topic {topic}", f"cleanup.policy={policy}, not compact",
                f"kafka-configs.sh --alter --entity-type topics --entity-name {topic} "
                "--add-config cleanup.policy=compact (or use another topic_prefix)",
            )  # fmt: skip
    if all("compact" in (policies.get(t) or "").split(",") for t in topics):
        yield ok("kafka", "table topics", f"{len(topics)} existing table topic(s), compacted")


def _transactions(config: PipelineConfig) -> Check:
    from confluent_kafka import KafkaException, Producer

    from strangler.cli.services import kafka_client_config

    transactional_id = f"strangler-doctor-{uuid.uuid4()}"
    producer = Producer(kafka_client_config(config.kafka, **{"transactional.id": transactional_id}))
    needed = any(getattr(s, "exactly_once", False) for s in config.sources)
    try:
        producer.init_transactions(TIMEOUT_S)
    except KafkaException as exc:
        detail = f"transactions are not available: {exc.args[0].str()}"
        fix = ("check transaction.state.log.replication.factor and min.isr against the number "
               "of brokers")  # fmt: skip
        if needed:
            return fail("kafka", "transactions", detail, f"exactly_once needs them: {fix}, or "
                        "set exactly_once: false")  # fmt: skip
        return warn("kafka", "transactions", detail + " (no source uses exactly_once)", fix)
    return ok("kafka", "transactions", "available" + (" (exactly_once sources)" if needed else ""))


# ---- registry ------------------------------------------------------------------------------


def check_registry(config: PipelineConfig) -> Iterator[Check]:
    from strangler.cli.services import registry_get

    if config.registry is None:
        return
    url, name = config.registry.url, "registry"
    try:
        level = registry_get(url, "/config").get("compatibilityLevel", "?")
    except StranglerError as exc:
        yield from_error(name, "reachable", exc)
        return
    yield ok(name, "reachable", f"{url}: compatibility {level}")
    try:
        mode = str(registry_get(url, "/mode").get("mode", "?"))
    except StranglerError as exc:
        yield warn(name, "mode", f"unknown ({exc.message})", "check that it accepts writes")
        return
    if mode.upper() != "READWRITE" and config.sources:
        yield fail(
            name, "mode", f"mode is {mode}: the sources cannot register their schemas",
            f"curl -X PUT -H 'Content-Type: application/json' -d '{{\"mode\": \"READWRITE\"}}' "
            f"{url.rstrip('/')}/mode",
        )  # fmt: skip
    else:
        yield ok(name, "mode", mode)


# ---- sources -------------------------------------------------------------------------------


def check_postgres(source: PostgresSource) -> Iterator[Check]:
    from strangler.connectors.postgres.connector import connect

    name = f"source {source.name}"
    try:
        conn = connect(source.dsn.get_secret_value(), connect_timeout=int(TIMEOUT_S))
    except StranglerError as exc:
        yield from_error(name, "connection", exc)
        return
    with conn:
        user, version = conn.execute("SELECT current_user, version()").fetchone() or ("?", "?")
        yield ok(name, "connection", f"connected as {user}: {str(version).split(',')[0]}")
        yield from _postgres_preflight(conn, source, name)
        yield from _postgres_slot(conn, source, name)


def _postgres_preflight(conn: Any, source: PostgresSource, name: str) -> Iterator[Check]:
    from strangler.connectors.postgres.preflight import Severity, list_tables, preflight

    facts = list_tables(conn)
    captured = source.tables.select(facts)
    try:
        source.check_overrides(captured)
    except StranglerError as exc:
        yield from_error(name, "overrides", exc)
    findings = preflight(conn, source, [facts[t] for t in captured])
    for f in findings:
        status = Status.FAIL if f.severity is Severity.ERROR else Status.WARN
        yield Check(status, name, f.subject, f.problem, f.fix, 2 if status is Status.FAIL else 0)
    subjects = {f.subject for f in findings}
    if "server" not in subjects:
        yield ok(name, "server", "wal_level logical, free replication slots and WAL senders")
    if "role" not in subjects:
        yield ok(name, "role", "has REPLICATION (or superuser)")
    if captured and not subjects - {"server", "role"}:
        yield ok(name, "tables", f"{len(captured)} table(s) captured, each with a key")


def _postgres_slot(conn: Any, source: PostgresSource, name: str) -> Iterator[Check]:
    from strangler.connectors.postgres.publication import publication_tables
    from strangler.connectors.postgres.slot import find_slot

    slot = find_slot(conn, source.slot)
    database = conn.info.dbname
    if slot is None:
        yield ok(name, "slot", f"{source.slot} does not exist yet; the first run creates it")
    elif slot.plugin != "pgoutput" or slot.database != database:
        yield fail(
            name, "slot",
            f"{slot.name} exists but is a {slot.plugin} slot of database {slot.database}",
            "give this source another slot name, or drop that slot if it is unused",
        )  # fmt: skip
    else:
        state = "active (a connector streams from it)" if slot.active else "idle"
        yield ok(name, "slot", f"{slot.name} at {slot.confirmed_flush}, {state}")
    exists = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s", (source.publication,)
    ).fetchone()
    if exists is None:
        yield ok(name, "publication", f"{source.publication} does not exist yet; it is created")
    else:
        count = len(publication_tables(conn, source.publication))
        yield ok(name, "publication", f"{source.publication} exists with {count} table(s)")


def check_mysql(source: MysqlSource, config: PipelineConfig, kafka_up: bool) -> Iterator[Check]:
    from strangler.connectors.mysql.connector import connect_server

    name = f"source {source.name}"
    try:
        conn = connect_server(source.connection_settings(), timeout=int(TIMEOUT_S))
    except StranglerError as exc:
        yield from_error(name, "connection", exc)
        return
    try:
        version = _mysql_version(conn)
        yield ok(name, "connection", f"connected as {source.connection_settings()['user']}: "
                 f"{version}")  # fmt: skip
        yield from _mysql_preflight(conn, source, config, kafka_up, name)
    finally:
        conn.close()


def _mysql_version(conn: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]) if row else "?"


def _mysql_preflight(
    conn: Any, source: MysqlSource, config: PipelineConfig, kafka_up: bool, name: str
) -> Iterator[Check]:
    from strangler.connectors.mysql.connector import MysqlConnector
    from strangler.connectors.mysql.preflight import preflight
    from strangler.connectors.postgres.registrar import HttpRegistrar

    assert config.registry is not None  # required by the model when there are sources
    connector = MysqlConnector(source, config.kafka, HttpRegistrar(config.registry.url))
    try:
        tables = connector.captured_tables(conn)
    except StranglerError as exc:
        yield from_error(name, "tables", exc)
        return
    stored, problem = _mysql_stored(source, config, kafka_up)
    if problem is not None:
        yield problem
    unkeyed = [t for t in tables if not source.key_override(t)]
    findings = preflight(conn, server_id=source.server_id, tables=unkeyed, stored=stored)
    for f in findings:
        status = Status.FAIL if f.fatal else Status.WARN
        yield Check(status, name, f.check, f.message, f.fix, 2 if f.fatal else 0)
    checks = {f.check for f in findings}
    if not checks & {"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata"}:
        yield ok(name, "binlog", "log_bin ON, binlog_format ROW, row image and metadata FULL")
    if "privileges" not in checks:
        yield ok(name, "privileges", "REPLICATION SLAVE and REPLICATION CLIENT granted")
    if "primary_key" not in checks:
        yield ok(name, "tables", f"{len(tables)} table(s) captured, each with a key")
    if stored is not None and "binlog_retention" not in checks:
        yield ok(name, "stored position", f"{stored} is still in the server's binlogs")


def _mysql_stored(
    source: MysqlSource, config: PipelineConfig, kafka_up: bool
) -> tuple[Any, Check | None]:
    """The stored binlog position (None: none yet) and a finding if it cannot be read."""
    from strangler.cli.positions import mysql_state

    name = f"source {source.name}"
    if source.offsets.store.value == "kafka" and not kafka_up:
        return None, warn(name, "stored position", "not read: Kafka is unreachable",
                          "fix Kafka first")  # fmt: skip
    try:
        state = mysql_state(source, config.kafka)
    except StranglerError as exc:
        return None, from_error(name, "stored position", exc)
    return (state.position if state is not None else None), None


# ---- views ---------------------------------------------------------------------------------


def check_view(view: ViewConfig, config: PipelineConfig, facts: KafkaFacts) -> Iterator[Check]:
    name = f"view {view.name}"
    if view.target.sqlite is not None:
        yield _sqlite_target(view.target.sqlite.path, name)
    else:
        assert view.target.postgres is not None  # the model requires exactly one target
        pg = view.target.postgres
        yield _postgres_target(pg.dsn.get_secret_value(), pg.db_schema, name)
    if facts.topics is None:
        return
    published = _source_topic_prefixes(config)
    for topic in view.topics:
        if topic.topic in facts.topics:
            continue
        if any(topic.topic.startswith(p) for p in published):
            yield ok(name, f"topic {topic.topic}", "not created yet; a source of this file will")
        else:
            yield warn(
                name, f"topic {topic.topic}", "does not exist, and no source here publishes it",
                "check the topic name (<topic_prefix>.<schema>.<table>), or start the pipeline "
                "that publishes it",
            )  # fmt: skip


def _source_topic_prefixes(config: PipelineConfig) -> list[str]:
    return [s.topic_prefix + "." for s in config.sources]


def _sqlite_target(path: Path, name: str) -> Check:
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            return fail(name, "sqlite", f"{path} is not writable", f"chmod u+rw {path}")
        try:
            with _readonly(path) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            return fail(name, "sqlite", f"{path} is not a SQLite database: {exc}",
                        "point target.sqlite.path at a new file or a view database")  # fmt: skip
        return ok(name, "sqlite", f"{path} exists and is writable")
    parent = next(p for p in [path.parent, *path.parent.parents] if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        return fail(name, "sqlite", f"{path} cannot be created: {parent} is not writable",
                    f"choose a writable directory, or chmod u+w {parent}")  # fmt: skip
    return ok(name, "sqlite", f"{path} will be created")


@contextmanager
def _readonly(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_S)
    try:
        yield conn
    finally:
        conn.close()


_SCHEMA_RIGHTS = """
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %(s)s),
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %(s)s)
            THEN has_schema_privilege(%(s)s, 'CREATE')
            ELSE has_database_privilege(current_database(), 'CREATE') END
"""


def _postgres_target(dsn: str, schema: str, name: str) -> Check:
    from strangler.connectors.postgres.connector import connect

    try:
        with connect(dsn, connect_timeout=int(TIMEOUT_S)) as conn:
            exists, can_create = conn.execute(_SCHEMA_RIGHTS, {"s": schema}).fetchone() or (0, 0)
    except StranglerError as exc:
        return from_error(name, "postgres", exc)
    if not can_create:
        where = f"schema {schema}" if exists else "the database"
        return fail(name, "postgres", f"the role cannot create tables in {where}",
                    f"GRANT CREATE ON {'SCHEMA ' + schema if exists else 'DATABASE ...'} TO "
                    "the view's role")  # fmt: skip
    state = "exists" if exists else "will be created"
    return ok(name, "postgres", f"schema {schema} {state}; the role can create tables")


# ---- the command ---------------------------------------------------------------------------


def run_checks(config: PipelineConfig) -> list[Check]:
    """Every check, in order: Kafka, the registry, the sources, the views. An error that one
    check raises becomes that component's failure; the others still run."""
    from strangler.connectors.mysql.config import MysqlSource

    facts = KafkaFacts()
    checks = _guarded("kafka", check_kafka, config, facts)
    checks += _guarded("registry", check_registry, config)
    for source in config.sources:
        component = f"source {source.name}"
        if isinstance(source, MysqlSource):
            checks += _guarded(component, check_mysql, source, config, facts.topics is not None)
        else:
            checks += _guarded(component, check_postgres, source)
    for view in config.views:
        checks += _guarded(f"view {view.name}", check_view, view, config, facts)
    return checks


def _guarded(component: str, step: Callable[..., Iterator[Check]], *args: Any) -> list[Check]:
    """The checks of one component; an error ends them with a failure, the others still run."""
    import psycopg
    import pymysql

    found: list[Check] = []
    try:
        found.extend(step(*args))
    except StranglerError as exc:
        found.append(from_error(component, "check", exc))
    except (psycopg.Error, pymysql.err.MySQLError) as exc:  # a check the server refused
        found.append(fail(component, "check", f"the server refused a check: {exc}",
                          "grant the privileges named, or run doctor as a more privileged "
                          "user to see the rest", 1))  # fmt: skip
    return found


@click.command("doctor")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor_command(file: Path, as_json: bool) -> None:
    """Check everything FILE's pipeline needs, live: Kafka, the registry, each source and view.

    Each finding is one line: status (ok, warn, fail), what was checked, what was seen and the
    fix. Exit codes: 0 no failure (warnings allowed); otherwise the first failure's class:
    3 a service is unreachable, 2 configuration, privileges or server settings must change.
    """
    from strangler.cli.config import load_pipeline

    config = load_pipeline(file)
    checks = run_checks(config)
    if as_json:
        emit_json({"file": str(file), "ok": exit_code(checks) == 0,
                   "checks": [asdict(c) for c in checks]})  # fmt: skip
    else:
        click.echo(table([asdict(c) for c in checks], ["status", "component", "what", "detail",
                                                      "fix"]))  # fmt: skip
        failed = sum(1 for c in checks if c.status is Status.FAIL)
        warned = sum(1 for c in checks if c.status is Status.WARN)
        click.echo(f"{len(checks)} check(s): {failed} failed, {warned} warning(s)")
    code = exit_code(checks)
    if code:
        click.get_current_context().exit(code)
