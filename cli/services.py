"""Short-timeout clients for the operational commands (doctor, topics, offsets, teardown).

An operator's command must answer in seconds even when a service is down, and say which
service and how to check it: every client here fails fast with ``ServiceUnavailable`` (exit 3)
naming the address, instead of a driver's retry loop or a raw exception. librdkafka's own log
lines are silenced unless ``-v`` (the error we raise says what they would have said).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strangler.cli.logsetup import verbosity
from strangler.core.errors import ServiceUnavailable
from strangler.core.kafka import KafkaSettings, base_config

if TYPE_CHECKING:
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient, ClusterMetadata

    from strangler.schema_registry.client import RegistryClient

TIMEOUT_S = 3.0
"""Longest wait for one service to answer."""


def kafka_client_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """``base_config`` with a short connection timeout and librdkafka's logs off unless -v."""
    return {
        **base_config(kafka),
        "socket.connection.setup.timeout.ms": int(TIMEOUT_S * 1000),
        "log_level": 6 if verbosity() > 0 else 0,
        **extra,
    }


def kafka_admin(kafka: KafkaSettings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_client_config(kafka))


def kafka_consumer(kafka: KafkaSettings, group: str) -> Consumer:
    """A consumer for reading watermarks and records; it never commits."""
    from confluent_kafka import Consumer

    return Consumer(
        kafka_client_config(
            kafka, **{"group.id": group, "enable.auto.commit": False,
                      "isolation.level": "read_committed"}
        )
    )  # fmt: skip


def kafka_metadata(admin: AdminClient, kafka: KafkaSettings) -> ClusterMetadata:
    """The cluster's brokers and topics; ``ServiceUnavailable`` naming the bootstrap servers."""
    from confluent_kafka import KafkaException

    try:
        return admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise kafka_unreachable(kafka, exc) from exc


def kafka_unreachable(kafka: KafkaSettings, exc: Exception) -> ServiceUnavailable:
    error = exc.args[0] if exc.args else exc
    reason = error.str() if hasattr(error, "str") else str(error)
    return ServiceUnavailable(
        f"Kafka at {kafka.bootstrap_servers} is unreachable: {reason}",
        fix="check kafka.bootstrap_servers and that the brokers run "
        f"(kafka-broker-api-versions.sh --bootstrap-server {kafka.bootstrap_servers})",
    )


def registry_client(url: str) -> RegistryClient:
    """A client that gives up after one short attempt."""
    from strangler.schema_registry.client import RegistryClient

    return RegistryClient(url, timeout=TIMEOUT_S, max_retries=0)


def registry_unreachable(url: str, reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the schema registry at {url} is unreachable: {reason}",
        fix=f"check registry.url and that the registry runs (curl {url.rstrip('/')}/config)",
    )


def registry_get(url: str, path: str) -> Any:
    """GET ``path`` of the registry as JSON; ``ServiceUnavailable`` if it does not answer."""
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + path, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise registry_unreachable(url, str(exc) or type(exc).__name__) from exc
    if response.status_code >= 400:
        raise ServiceUnavailable(
            f"the schema registry at {url} answered {path} with HTTP {response.status_code}: "
            f"{response.text[:200]}",
            fix="check registry.url: it must be the base URL of a Confluent-compatible registry",
        )
    return response.json()
