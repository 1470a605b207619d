"""Kafka client settings: guarantees that a pass-through setting cannot switch off."""

from __future__ import annotations

import pytest

from strangler.core.errors import ConfigError
from strangler.core.kafka import KafkaSettings, consumer_config, producer_config

pytestmark = pytest.mark.unit


def test_producer_is_idempotent_acks_all_murmur2() -> None:
    cfg = producer_config(KafkaSettings(bootstrap_servers="b:1", client={"linger.ms": 50}))
    assert cfg["acks"] == "all"
    assert cfg["enable.idempotence"] is True
    assert cfg["partitioner"] == "murmur2_random"
    assert cfg["linger.ms"] == 50
    assert cfg["bootstrap.servers"] == "b:1"


def test_pass_through_cannot_weaken_guarantees() -> None:
    settings = KafkaSettings(bootstrap_servers="b:1", client={"acks": "1"})
    with pytest.raises(ConfigError, match="acks=1"):
        producer_config(settings)


def test_consumer_reads_committed_and_commits_itself() -> None:
    cfg = consumer_config(KafkaSettings(bootstrap_servers="b:1"), "g")
    assert cfg["isolation.level"] == "read_committed"
    assert cfg["enable.auto.commit"] is False
    assert cfg["group.id"] == "g"
