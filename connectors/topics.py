"""Table topics: their names, and creating them compacted (or checking that they are)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from strangler.core.errors import ConfigError, ServiceUnavailable
from strangler.core.events import TableId

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

_LEGAL = re.compile(r"[^A-Za-z0-9._-]")


def table_topic(prefix: str, table: TableId) -> str:
    """``<prefix>.<schema>.<table>``; characters Kafka forbids become ``_``."""
    name = _LEGAL.sub("_", f"{prefix}.{table.schema}.{table.name}")
    if len(name) > 249:
        raise ConfigError(
            f"topic name for {table} is longer than Kafka's 249 characters",
            fix="use a shorter topic prefix",
        )
    return name


def ensure_compacted_topics(
    admin: AdminClient,
    names: Iterable[str],
    partitions: int,
    replication_factor: int,
    timeout: float = 30.0,
) -> list[str]:
    """Create the missing topics with cleanup.policy=compact; verify the existing ones.

    Returns the names created. An existing topic that is not compacted is an error: a table
    topic with deletion by time would lose rows of tables that did not change for a while.
    """
    from confluent_kafka import KafkaException

    wanted = sorted(set(names))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise ServiceUnavailable(
            f"Kafka did not answer: {exc}",
            fix="check kafka.bootstrap_servers and that the broker runs",
        ) from exc
    missing = [n for n in wanted if n not in existing]
    created = _create(admin, missing, partitions, replication_factor, timeout)
    _verify_compacted(admin, [n for n in wanted if n not in created], timeout)
    return created


def _create(
    admin: AdminClient, names: list[str], partitions: int, replication_factor: int, timeout: float
) -> list[str]:
    """Create ``names`` compacted; returns those this call created (another creator may win)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    if not names:
        return []
    config = {"cleanup.policy": "compact"}
    futures = admin.create_topics(
        [NewTopic(n, partitions, replication_factor, config=config) for n in names]
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ServiceUnavailable(f"could not create topic {name}: {exc}") from exc
    return sorted(created)


def _verify_compacted(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Topics we did not create must already be compacted."""
    if not names:
        return
    for name in names:
        policy = _cleanup_policy(admin, name, timeout)
        if "compact" not in policy.split(","):
            raise ConfigError(
                f"topic {name} exists with cleanup.policy={policy}, not compact",
                fix=f"set it: kafka-configs --alter --entity-type topics --entity-name "
                f"{name} --add-config cleanup.policy=compact (or use another prefix)",
            )


def _cleanup_policy(admin: AdminClient, name: str, timeout: float) -> str:
    """The topic's cleanup.policy; a topic created a moment ago may not be known to the broker
    that answers yet (UNKNOWN_TOPIC_OR_PART), so that is retried until ``timeout``."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import ConfigResource, ResourceType

    deadline = time.monotonic() + timeout
    while True:
        future = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)])
        try:
            return str(next(iter(future.values())).result(timeout)["cleanup.policy"].value or "")
        except KafkaException as exc:
            unknown = exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            if not unknown or time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"could not read the config of topic {name}: {exc}"
                ) from exc
            time.sleep(0.1)
