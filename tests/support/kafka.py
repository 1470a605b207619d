"""Reading topics back in tests."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from strangler.core.kafka import KafkaSettings, consumer_config


def consume_all(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list[Message]:
    """Read committed records of ``topic`` from the start: stops at the end of every partition
    once ``expect`` records arrived (or at ``timeout``)."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = Consumer(
        consumer_config(settings, f"test-{uuid.uuid4().hex}", **{"enable.partition.eof": True})
    )
    # assign, not subscribe: no group join to wait for
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out: list[Message] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is None:
                out.append(msg)
                at_end.discard(msg.partition() or 0)
                continue
            at_end.add(msg.partition() or 0)
            if len(out) >= expect and len(at_end) >= len(partitions):
                break
    finally:
        consumer.close()
    return out
