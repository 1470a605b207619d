"""Electing the one writer among registry instances that share a ``_schemas`` topic.

Election uses Kafka's own group protocol: every instance joins one consumer group on a
single-partition election topic; the member the group assigns that partition to is the writer.
When it dies, its session times out, the group rebalances and a survivor is assigned the
partition. On election the new writer first fences earlier writers (``become_writer``: a shared
transactional id) and catches up with the log, and only then publishes its URL on the
election topic, so no instance forwards to it before it can decide on the latest state.
Instances read the latest published URL to forward writes there.

This is our own group (``strangler-schema-registry``), not Confluent's ``schema-registry``
group, so a mixed fleet never elects one of ours over one of theirs.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from strangler.schema_registry.errors import RegistryError
from strangler.schema_registry.kafka_storage import ensure_topic

log = logging.getLogger(__name__)


class KafkaLeaderElection:
    """Who writes: this instance (``is_leader``) or the one at ``leader_url``."""

    def __init__(
        self,
        bootstrap: str,
        log_topic: str,
        group_id: str,
        my_url: str,
        on_elected: Callable[[], None],
    ) -> None:
        self.topic = f"{log_topic}-leader"
        self.my_url = my_url
        self.is_leader = False
        self.leader_url: str | None = None
        self._on_elected = on_elected
        self._client: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap}
        self._stopping = threading.Event()
        ensure_topic(AdminClient(self._client), self.topic)
        self._group = Consumer(self._group_config(group_id))
        self._reader = Consumer(
            {**self._client, "group.id": f"registry-leader-reader-{uuid.uuid4()}"}
        )
        self._producer = Producer({**self._client, "acks": "all"})
        self._threads: list[threading.Thread] = []

    def _group_config(self, group_id: str) -> dict[str, Any]:
        return {
            **self._client,
            "group.id": group_id,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": "range",
        }

    def start(self) -> None:
        self._group.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)
        self._reader.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        for target, name in (
            (self._poll_group, "registry-election"),
            (self._read_leader, "registry-leader-url"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._group.close()
        self._reader.close()

    def _poll_group(self) -> None:
        while not self._stopping.is_set():
            self._group.poll(0.2)  # keeps membership; rebalance callbacks run in here

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions or self.is_leader:
            return
        try:
            self._on_elected()
        except RegistryError as exc:
            log.error("elected but could not take over writing: %s", exc)
            return
        self.is_leader = True
        self._publish()

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.is_leader = False

    def _publish(self) -> None:
        value = json.dumps({"url": self.my_url, "member": self._group.memberid()}).encode()
        try:
            self._producer.produce(self.topic, value, b"leader", partition=0)
            self._producer.flush(10)
        except (KafkaException, BufferError) as exc:
            log.error("could not publish the writer's URL: %s", exc)
        log.info("elected registry writer: %s", self.my_url)

    def _read_leader(self) -> None:
        while not self._stopping.is_set():
            message = self._reader.poll(0.2)
            if message is None or message.error() is not None:
                continue
            try:
                self.leader_url = str(json.loads(message.value() or b"{}")["url"])
            except (ValueError, KeyError, TypeError):
                log.error("ignoring a malformed election record at offset %s", message.offset())
