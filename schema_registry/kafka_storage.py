"""Production storage: Confluent's ``_schemas`` topic (compacted, one partition).

Every instance reads the whole topic into its view on start and keeps following it in a
background thread. A write produces one record (acks=all, idempotent, partition 0), learns its
offset from the delivery report, then waits until the follower thread has applied that offset:
the write is acknowledged only once this instance has read it back, as in Confluent's
``KafkaStore``. ``sync`` waits for the topic's end, so a writer decides on the latest state.

With several instances, the elected writer calls ``become_writer``: its producer then uses a
transactional id shared by every instance of this topic, so initialising it fences any
previous writer (a zombie's late write is aborted, never read, never acknowledged). Progress
is tracked as the consumer's position, which also moves past transaction markers.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from strangler.schema_registry.errors import OperationTimeout, StoreError
from strangler.schema_registry.records import LogRecord, MalformedRecord, decode, encode
from strangler.schema_registry.storage import Apply

log = logging.getLogger(__name__)
WRITE_TIMEOUT_S = 30.0
# Errors while a partition has no leader yet (a broker that just restarted) or the client's
# metadata does not know a topic just created yet.
_LEADERLESS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
    }
)


class KafkaStorage:
    """The registry log in a Kafka topic, followed by one consumer thread."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = "_schemas",
        *,
        client: dict[str, Any] | None = None,
        fenced_writer: bool = False,
    ) -> None:
        self._topic = topic
        self._client = {"bootstrap.servers": bootstrap, **(client or {})}
        self._fenced_writer = fenced_writer
        self._transactional = False
        self._position = 0  # next offset the follower will read; everything before is applied
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._apply: Apply | None = None
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        ensure_topic(AdminClient(self._client), topic)
        self._producer = self._new_producer()
        self._consumer = Consumer(self._consumer_config())
        # A second handle for end-offset queries: the follower thread keeps the first busy in
        # poll(), and the client serialises calls on one handle.
        self._probe = Consumer(self._consumer_config())

    def _consumer_config(self) -> dict[str, Any]:
        return {
            **self._client,
            "group.id": f"strangler-registry-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 10,
            "isolation.level": "read_committed",
        }

    def _new_producer(self) -> Producer:
        config = {**self._client, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
        if self._fenced_writer:
            config["transactional.id"] = f"strangler-registry-writer-{self._topic}"
        return Producer(config)

    def become_writer(self) -> None:
        """Fence every earlier writer of this topic, then catch up: called when elected."""
        if not self._fenced_writer:
            return
        self._producer = self._new_producer()
        try:
            self._producer.init_transactions(WRITE_TIMEOUT_S)
        except KafkaException as exc:
            raise StoreError(f"cannot take over writing {self._topic}: {exc}") from exc
        self._transactional = True
        self.sync()

    def start(self, apply: Apply) -> None:
        self._apply = apply
        self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        self._thread = threading.Thread(
            target=self._follow, name="registry-log-follower", daemon=True
        )
        self._thread.start()
        self.sync(timeout=120.0)

    def append(self, record: LogRecord) -> None:
        key, value = encode(record)
        if self._fenced_writer and not self._transactional:
            self.become_writer()
        if self._transactional:
            offset = self._produce_in_transaction(key, value)
        else:
            offset = self._produce(key, value)
        self._wait_position(offset + 1, WRITE_TIMEOUT_S)

    def sync(self, timeout: float = WRITE_TIMEOUT_S) -> None:
        self._wait_position(self._end_offset(timeout), timeout)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._producer.flush(5)
        self._consumer.close()
        self._probe.close()

    # -- writing ------------------------------------------------------------------------------

    def _produce(self, key: bytes, value: bytes | None) -> int:
        reports: list[Message] = []
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            (failures.append(error) if error is not None else reports.append(message))

        try:
            self._producer.produce(self._topic, value, key, partition=0, on_delivery=delivered)
        except (KafkaException, BufferError) as exc:
            raise StoreError(f"cannot write to {self._topic}: {exc}") from exc
        self._producer.flush(WRITE_TIMEOUT_S)
        if failures or not reports:
            raise StoreError(f"write to {self._topic} not acknowledged: {failures or 'timed out'}")
        offset = reports[0].offset()
        if offset is None:
            raise StoreError(f"write to {self._topic} acknowledged without an offset")
        return offset

    def _produce_in_transaction(self, key: bytes, value: bytes | None) -> int:
        try:
            self._producer.begin_transaction()
            offset = self._produce(key, value)
            self._producer.commit_transaction(WRITE_TIMEOUT_S)
        except KafkaException as exc:
            self._transactional = False  # fenced or broken: re-initialise before the next write
            raise StoreError(f"write to {self._topic} not committed: {exc}") from exc
        return offset

    def _end_offset(self, timeout: float = WRITE_TIMEOUT_S) -> int:
        """The topic's end offset, waiting out leader elections (a restarted broker, a move)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _low, high = self._probe.get_watermark_offsets(
                    TopicPartition(self._topic, 0), timeout=10
                )
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                transient = isinstance(error, KafkaError) and (
                    error.retriable() or error.code() in _LEADERLESS
                )
                if not transient or time.monotonic() >= deadline:
                    raise StoreError(f"cannot read the end of {self._topic}: {exc}") from exc
                log.info("waiting for a leader of %s: %s", self._topic, error)
                time.sleep(0.5)
                continue
            end: int = high
            return end

    def _wait_position(self, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._position < offset:
                if self._failure is not None:
                    raise StoreError(self._failure)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OperationTimeout(
                        f"offset {offset} of {self._topic} not read back in {timeout}s"
                    )
                self._progress.wait(min(left, 0.5))

    # -- following ------------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stopping.is_set():
            message = self._consumer.poll(0.02)
            if message is None:
                self._note_position()
                continue
            error = message.error()
            if error is not None:
                self._on_error(error)
                continue
            self._apply_message(message)

    def _on_error(self, error: KafkaError) -> None:
        log.warning("registry log consumer: %s", error)
        if error.fatal():
            with self._progress:
                self._failure = f"registry log consumer failed: {error}"
                self._progress.notify_all()

    def _apply_message(self, message: Message) -> None:
        assert self._apply is not None
        key = message.key()
        try:
            record = decode(key, message.value()) if key is not None else None
        except MalformedRecord as exc:
            # Confluent's store reader skips what it cannot deserialize; reported, not hidden.
            log.error(
                "skipping malformed record at offset %s of %s: %s",
                message.offset(),
                self._topic,
                exc,
            )
            record = None
        with self._progress:
            if record is not None:
                self._apply(record)
            offset = message.offset()
            self._position = self._position if offset is None else offset + 1
            self._progress.notify_all()

    def _note_position(self) -> None:
        """After an empty poll: the position may have moved past transaction markers."""
        try:
            position = self._consumer.position([TopicPartition(self._topic, 0)])[0].offset
        except KafkaException:
            return
        if position is not None and position > self._position:
            with self._progress:
                self._position = position
                self._progress.notify_all()


def ensure_topic(admin: AdminClient, topic: str) -> None:
    """Create the log topic (1 partition, compacted) or check that the existing one is so."""
    metadata = admin.list_topics(timeout=30)
    if topic not in metadata.topics:
        _create_topic(admin, topic, min(len(metadata.brokers), 3))
        return
    partitions = len(metadata.topics[topic].partitions)
    if partitions != 1:
        raise StoreError(
            f"topic {topic} has {partitions} partitions; the registry log needs exactly 1"
        )
    _require_compaction(admin, topic)


def _create_topic(admin: AdminClient, topic: str, replicas: int) -> None:
    new = NewTopic(
        topic,
        num_partitions=1,
        replication_factor=max(replicas, 1),
        config={"cleanup.policy": "compact"},
    )
    try:
        admin.create_topics([new])[topic].result(30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise StoreError(f"cannot create the registry topic {topic}: {exc}") from exc


def _require_compaction(admin: AdminClient, topic: str) -> None:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else ""
    if "compact" not in (policy or ""):
        raise StoreError(
            f"topic {topic} has cleanup.policy={policy}; the registry log must be compacted",
            fix=f"kafka-configs --alter --entity-type topics --entity-name {topic}"
            " --add-config cleanup.policy=compact",
        )
