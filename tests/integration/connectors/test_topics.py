"""Table topics on the real broker: created compacted, existing ones verified."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from strangler.connectors.topics import ensure_compacted_topics
from strangler.core.errors import ConfigError

pytestmark = pytest.mark.integration


def test_creates_missing_topics_compacted_and_is_idempotent(
    kafka_bootstrap: str, topic_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = [f"{topic_name}.a", f"{topic_name}.b"]
    assert ensure_compacted_topics(admin, names, partitions=3, replication_factor=1) == names
    assert ensure_compacted_topics(admin, names, partitions=3, replication_factor=1) == []
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, names[0])])
    config = next(iter(described.values())).result(30)
    assert config["cleanup.policy"].value == "compact"
    assert len(admin.list_topics(names[1], timeout=10).topics[names[1]].partitions) == 3


def test_existing_topic_that_is_not_compacted_is_refused(
    kafka_bootstrap: str, topic_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    with pytest.raises(ConfigError, match=r"cleanup\.policy=delete, not compact"):
        ensure_compacted_topics(admin, [topic_name], partitions=1, replication_factor=1)
