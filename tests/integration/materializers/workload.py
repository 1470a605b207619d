"""A randomized table changelog published to a real Kafka topic the way the connectors do
(Confluent wire format, headers op/position/commit_ts), and the replay it must yield."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import fastavro
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from strangler.core.kafka import KafkaSettings, producer_config
from strangler.materializers.decoding import encode
from strangler.materializers.records import TRUNCATE_KEY
from tests.unit.materializers.changelog import KEY, VALUE_SCHEMAS, Event, replay

SCHEMAS = {KEY.id: KEY.schema, **{s.id: s.schema for s in VALUE_SCHEMAS.values()}}
_PARSED = {i: fastavro.parse_schema(dict(s)) for i, s in SCHEMAS.items()}


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    spec = NewTopic(topic, partitions, 1, config={"cleanup.policy": "compact"})
    admin.create_topics([spec])[topic].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every partition has a leader
        found = admin.list_topics(topic, timeout=10).topics.get(topic)
        parts = found.partitions if found is not None and found.error is None else {}
        if len(parts) == partitions and all(p.leader >= 0 for p in parts.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} has no leaders after 30 s")


def random_events(rng: random.Random, count: int, keys: int) -> list[Event]:
    """Upserts (schema v1, later v2), deletes and a couple of truncates."""
    out: list[Event] = []
    for i in range(count):
        roll = rng.random()
        key = rng.randrange(keys)
        if roll < 0.002:
            out.append(Event(None))
        elif roll < 0.2:
            out.append(Event(key))
        else:
            version = 2 if i > count // 2 and rng.random() < 0.5 else 1
            values = {"name": f"n{i}", "amount": rng.randrange(10**6), "note": f"x{i}"}
            out.append(Event(key, values, version))
    return out


@dataclass
class Publisher:
    """Publishes events with increasing positions (one per event) to a topic."""

    settings: KafkaSettings
    topic: str
    partitions: int
    published: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.producer = Producer(producer_config(self.settings))
        self.failures: list[str] = []
        self.records_sent = 0

    def _delivered(self, error: object, message: object) -> None:
        if error is not None:
            self.failures.append(str(error))

    def publish(self, events: list[Event]) -> None:
        for event in events:
            self.published.append(event)
            self._send(event, len(self.published))
        assert self.producer.flush(30) == 0
        assert not self.failures, self.failures[:3]

    def _send(self, event: Event, position: int) -> None:
        self.records_sent += self.partitions if event.key is None else 1
        headers: list[tuple[str, str | bytes | None]] = [
            ("op", b"t" if event.key is None else b"d" if event.values is None else b"u"),
            ("position", f"0/{position:X}".encode()),
            ("commit_ts_us", str(int(time.time() * 1e6)).encode()),
        ]
        if event.key is None:  # a truncate goes to every partition
            marker = f"0/{position:X}".encode()
            for partition in range(self.partitions):
                self.producer.produce(
                    self.topic, marker, TRUNCATE_KEY, partition, self._delivered, headers=headers
                )
            return
        key = encode(KEY.id, _PARSED[KEY.id], {"id": event.key})
        value = None
        if event.values is not None:
            schema = VALUE_SCHEMAS[event.version]
            fields = [f["name"] for f in schema.schema["fields"]]
            row = {f: event.values.get(f) for f in fields} | {"id": event.key}
            value = encode(schema.id, _PARSED[schema.id], row)
        self.producer.produce(self.topic, value, key, on_delivery=self._delivered, headers=headers)

    def expected(self) -> dict[int, dict[str, object]]:
        return replay(self.published)
