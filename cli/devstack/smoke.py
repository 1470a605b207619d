"""``strangler dev smoke``: one real round trip through each service of a running stack."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit


@dataclass(frozen=True)
class SmokeResult:
    """One check: its name, whether it passed, and what was seen."""

    check: str
    ok: bool
    detail: str


def run_smoke(env: Mapping[str, str]) -> list[SmokeResult]:
    """Run every check against the endpoints in ``env``; a failure is reported, not raised."""
    checks: list[tuple[str, Callable[[str], str], str]] = [
        ("postgres logical replication", check_postgres, "STRANGLER_PG_DSN"),
        ("mariadb row binlog", check_mariadb, "STRANGLER_MYSQL_URL"),
        ("kafka produce/consume", check_kafka, "STRANGLER_KAFKA_BOOTSTRAP"),
        ("schema registry", check_registry, "STRANGLER_REGISTRY_URL"),
    ]
    results = []
    for name, check, var in checks:
        try:
            results.append(SmokeResult(name, True, check(env[var])))
        except Exception as exc:  # noqa: BLE001 - each driver has its own errors; a failed
            # check is reported in its row (and the command exits 1), not swallowed
            results.append(SmokeResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def check_postgres(dsn: str) -> str:
    """A row inserted after a pgoutput slot was created is decoded from that slot."""
    import psycopg

    slot = f"strangler_smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS strangler_smoke (id serial PRIMARY KEY, t text)")
        conn.execute("DROP PUBLICATION IF EXISTS strangler_smoke")
        conn.execute("CREATE PUBLICATION strangler_smoke FOR TABLE strangler_smoke")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot])
        try:
            conn.execute("INSERT INTO strangler_smoke (t) VALUES ('hello')")
            row = conn.execute(
                "SELECT count(*) FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
                "'proto_version', '1', 'publication_names', 'strangler_smoke')",
                [slot],
            ).fetchone()
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
            conn.execute("DROP PUBLICATION strangler_smoke")
    count = row[0] if row else 0
    if count < 3:  # Begin, Relation, Insert, Commit
        raise RuntimeError(f"the slot returned {count} pgoutput messages, expected at least 3")
    return f"slot decoded {count} pgoutput messages"


class MysqlSettings(TypedDict):
    """pymysql / python-mysql-replication connection settings."""

    host: str
    port: int
    user: str
    password: str


def mysql_settings(url: str) -> MysqlSettings:
    """Connection settings from mysql://user:password@host:port/."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
    }


def check_mariadb(url: str) -> str:
    """A row inserted now arrives as a WriteRowsEvent with its column names."""
    import pymysql
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import WriteRowsEvent

    settings = mysql_settings(url)
    conn = pymysql.connect(**settings, autocommit=True)
    marker = uuid.uuid4().hex
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS strangler_smoke")
        cur.execute(
            "CREATE TABLE IF NOT EXISTS strangler_smoke.t (id INT AUTO_INCREMENT "
            "PRIMARY KEY, marker VARCHAR(64))"
        )
        cur.execute("SHOW MASTER STATUS")
        status = cur.fetchone()
        if status is None:
            raise RuntimeError("SHOW MASTER STATUS returned nothing: the binlog is off (log_bin)")
        log_file, log_pos = status[:2]
        cur.execute("INSERT INTO strangler_smoke.t (marker) VALUES (%s)", [marker])
    conn.close()
    stream = BinLogStreamReader(
        connection_settings=settings,
        server_id=int(time.time()) % 10**6 + 10_000,
        resume_stream=True,
        log_file=log_file,
        log_pos=log_pos,
        blocking=False,
        only_events=[WriteRowsEvent],
        only_schemas=["strangler_smoke"],
        enable_logging=False,
    )
    try:
        for event in stream:
            for row in event.rows:
                if row["values"].get("marker") == marker:
                    return f"WriteRowsEvent for strangler_smoke.t at {log_file}"
    finally:
        stream.close()
    raise RuntimeError("the inserted row did not appear in the binlog")


def check_kafka(bootstrap: str) -> str:
    """A record produced with acks=all to a compacted topic is consumed back."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    topic = f"strangler-smoke-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[
        topic
    ].result(30)
    try:
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        producer.produce(topic, key=b"k", value=b"hello")
        if producer.flush(30) != 0:
            raise RuntimeError("the record was not acknowledged within 30 s")
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([topic])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None and msg.value() == b"hello":
                    return f"round trip through {topic} (cleanup.policy=compact)"
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])[topic].result(30)
    raise RuntimeError("the produced record was not consumed within 30 s")


def check_registry(url: str) -> str:
    """A schema registered under a fresh subject is served back by its id."""
    import json

    from strangler.schema_registry.client import RegistryClient

    subject = f"strangler-smoke-{uuid.uuid4().hex[:8]}-value"
    schema = json.dumps(
        {"type": "record", "name": "Smoke", "fields": [{"name": "id", "type": "long"}]}
    )
    client = RegistryClient(url)
    try:
        schema_id = client.register(subject, schema)
        served = client.schema_by_id(schema_id)
    finally:
        client.close()
    if "Smoke" not in str(served):
        raise RuntimeError(f"schema {schema_id} came back as {served!r}")
    return f"registered {subject} as id {schema_id} and read it back"
