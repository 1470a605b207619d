"""Kafka client setup shared by every part: one place decides acks, idempotence, partitioning.

Settings under ``kafka.client`` pass through to librdkafka unchanged (security, SASL, TLS), but
the guarantees strangler depends on cannot be switched off there by accident.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from strangler.core.config import StrictModel
from strangler.core.errors import ConfigError

ClientValue = str | int | float | bool

# What the delivery guarantees rest on: every in-sync replica acknowledged, no duplicates from
# producer retries, and murmur2 on the key bytes like the Java client (so Kafka Streams and
# ksqlDB co-partition with our topics; records without a key are spread at random).
PRODUCER_GUARANTEES: dict[str, ClientValue] = {
    "acks": "all",
    "enable.idempotence": True,
    "partitioner": "murmur2_random",
}

PRODUCER_DEFAULTS: dict[str, ClientValue] = {
    "linger.ms": 5,
    "compression.type": "lz4",
    "message.max.bytes": 8 * 1024 * 1024,
}


class KafkaSettings(StrictModel):
    """The `kafka:` section of a pipeline file."""

    bootstrap_servers: str = Field(min_length=1)
    """Comma-separated host:port list of brokers, e.g. 127.0.0.1:29092."""
    client: dict[str, ClientValue] = Field(default_factory=dict)
    """librdkafka settings passed through unchanged (security.protocol, sasl.*, ssl.*)."""
    partitions: int = Field(default=1, ge=1)
    """Partitions of each table topic strangler creates."""
    replication_factor: int = Field(default=-1, ge=-1)
    """Replication factor of topics strangler creates; -1 takes the broker's default."""


def base_config(settings: KafkaSettings) -> dict[str, ClientValue]:
    """Connection settings common to producers, consumers and admin clients."""
    return {"bootstrap.servers": settings.bootstrap_servers, **settings.client}


def producer_config(settings: KafkaSettings, **extra: ClientValue) -> dict[str, Any]:
    """A producer that neither loses nor duplicates acknowledged records."""
    conflicts = {
        k: v
        for k, v in settings.client.items()
        if k in PRODUCER_GUARANTEES and v != PRODUCER_GUARANTEES[k]
    }
    if conflicts:
        names = ", ".join(f"{k}={v}" for k, v in conflicts.items())
        raise ConfigError(
            f"kafka.client sets {names}, which would break delivery guarantees",
            fix="remove these keys; strangler always uses acks=all, idempotence "
            "and murmur2 partitioning",
        )
    return {**PRODUCER_DEFAULTS, **base_config(settings), **PRODUCER_GUARANTEES, **extra}


def consumer_config(settings: KafkaSettings, group_id: str, **extra: ClientValue) -> dict[str, Any]:
    """A consumer that sees only committed transactions and commits offsets itself."""
    return {
        **base_config(settings),
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **extra,
    }
