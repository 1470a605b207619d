"""The Kafka broker of the stack, through strangler's own client settings: idempotent produce,
read-committed consume, transactions, and log compaction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from strangler.core.kafka import KafkaSettings, producer_config
from tests.support.kafka import consume_all

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


def create_topic(bootstrap: str, topic: str, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(30)


def produce(producer: Producer, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    for key, value in records:
        producer.produce(topic, key=key, value=value)


@pytest.fixture
def producer(settings: KafkaSettings) -> Iterator[Producer]:
    p = Producer(producer_config(settings))
    yield p
    p.flush(10)


def test_produce_and_consume_keys_values_and_tombstones(
    settings: KafkaSettings, producer: Producer, topic_name: str
) -> None:
    create_topic(settings.bootstrap_servers, topic_name, **{"cleanup.policy": "compact"})
    acked: list[int] = []
    for i in range(100):
        producer.produce(
            topic_name,
            key=b"k%d" % i,
            value=None if i == 99 else b"v%d" % i,
            on_delivery=lambda err, msg: acked.append(msg.offset() or 0) if err is None else None,
        )
    assert producer.flush(30) == 0
    assert sorted(acked) == list(range(100))
    got = consume_all(settings.bootstrap_servers, topic_name, expect=100)
    assert [(m.key(), m.value()) for m in got][:2] == [(b"k0", b"v0"), (b"k1", b"v1")]
    assert got[-1].value() is None and len(got) == 100


def test_transactions_hide_aborted_records(settings: KafkaSettings, topic_name: str) -> None:
    create_topic(settings.bootstrap_servers, topic_name)
    tx = Producer(producer_config(settings, **{"transactional.id": f"tx-{topic_name}"}))
    tx.init_transactions(30)
    tx.begin_transaction()
    produce(tx, topic_name, [(b"a", b"committed")])
    tx.commit_transaction(30)
    tx.begin_transaction()
    produce(tx, topic_name, [(b"b", b"aborted")])
    tx.abort_transaction(30)
    tx.begin_transaction()
    produce(tx, topic_name, [(b"c", b"committed too")])
    tx.commit_transaction(30)
    got = consume_all(settings.bootstrap_servers, topic_name, expect=2)
    assert [(m.key(), m.value()) for m in got] == [(b"a", b"committed"), (b"c", b"committed too")]


def test_compaction_keeps_latest_value_per_key(
    settings: KafkaSettings, producer: Producer, topic_name: str
) -> None:
    # tiny segments and an eager cleaner, so compaction runs within seconds
    create_topic(
        settings.bootstrap_servers,
        topic_name,
        **{
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100",
            "min.compaction.lag.ms": "0",
        },
    )
    written = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        produce(producer, topic_name, [(b"key", b"v%d" % i) for i in range(50)])
        produce(producer, topic_name, [(b"roll-%d" % written, b"x")])  # rolls the segment
        assert producer.flush(30) == 0
        written += 50
        time.sleep(1.0)
        values = [
            m.value()
            for m in consume_all(settings.bootstrap_servers, topic_name, expect=written)
            if m.key() == b"key"
        ]
        if len(values) < written:  # the log cleaner removed superseded values
            assert values[-1] == b"v49"
            return
    pytest.fail(f"the log cleaner never compacted {topic_name} within 90 s")
