"""Where a connector keeps its own state (stream position, snapshot progress) when the source
database does not keep it (MySQL/MariaDB: a binlog reader is stateless on the server).

One JSON document per source, replaced as a whole on every save:

- ``FileOffsetStore``: a local file, written atomically (temporary file, fsync, rename). The
  default for a connector embedded in one machine's pipeline.
- ``KafkaOffsetStore``: a compacted single-partition topic, key = the source's name, value =
  the document (a tombstone clears it). Loading reads the topic to its end; the last record of
  the key wins. Saving waits for Kafka's acknowledgement (acks=all), so a stored position is
  never one the broker may have lost.

A connector saves only positions that Kafka acknowledged for every event before them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from strangler.core.errors import ServiceUnavailable, StranglerError
from strangler.core.kafka import KafkaSettings, base_config, consumer_config, producer_config

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message

State = dict[str, Any]


class OffsetStoreError(StranglerError):
    """The stored state cannot be read."""


class OffsetStore(Protocol):
    """Loads and saves one source's state document."""

    def load(self) -> State | None: ...

    def save(self, state: State) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class FileOffsetStore:
    """The state document in a local JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> State | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
        except ValueError as exc:
            raise OffsetStoreError(
                f"offset file {self.path} is unreadable: {exc}",
                fix="restore it from a backup, or delete it to start over (a new snapshot)",
            ) from exc
        if not isinstance(data, dict):
            raise OffsetStoreError(f"offset file {self.path} does not hold a JSON object")
        return data

    def save(self, state: State) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as out:
            json.dump(state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        pass


class KafkaOffsetStore:
    """The state document as the latest record of ``key`` in a compacted topic."""

    def __init__(self, kafka: KafkaSettings, topic: str, key: str, timeout: float = 30.0) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self._kafka = kafka
        self._key = key.encode()
        self._timeout = timeout
        self._producer = Producer(producer_config(kafka, **{"linger.ms": 0}))

    def ensure_topic(self) -> None:
        """Create the topic (compacted, one partition) or check that it is compacted."""
        from confluent_kafka.admin import AdminClient

        from strangler.connectors.topics import ensure_compacted_topics

        admin = AdminClient(base_config(self._kafka))
        ensure_compacted_topics(admin, [self.topic], 1, self._kafka.replication_factor)

    def load(self) -> State | None:
        found: bytes | None = None
        for message in self._read_to_end():
            if message.key() == self._key:
                found = message.value()
        if found is None:
            return None
        try:
            data = json.loads(found)
        except ValueError as exc:
            raise OffsetStoreError(
                f"the last offsets record of {self._key.decode()} in {self.topic} is not JSON",
                fix="produce a tombstone for the key to start over (a new snapshot)",
            ) from exc
        return data if isinstance(data, dict) else None

    def _read_to_end(self) -> list[Message]:
        from confluent_kafka import Consumer, TopicPartition

        group = f"strangler-offsets-reader-{os.getpid()}"
        consumer = Consumer(consumer_config(self._kafka, group))
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, 0), timeout=self._timeout
            )
            if high <= low:
                return []
            consumer.assign([TopicPartition(self.topic, 0, low)])
            return self._poll_until(consumer, high)
        finally:
            consumer.close()

    def _poll_until(self, consumer: Any, high: int) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + self._timeout
        while not out or (out[-1].offset() or 0) < high - 1:
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"could not read {self.topic} to its end")
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append(message)
        return out

    def save(self, state: State) -> None:
        self._write(json.dumps(state).encode())

    def clear(self) -> None:
        self._write(None)

    def _write(self, value: bytes | None) -> None:
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(str(err))

        self._producer.produce(self.topic, key=self._key, value=value, on_delivery=on_delivery)
        left = self._producer.flush(self._timeout)
        if errors or left:
            raise ServiceUnavailable(
                f"Kafka did not store the offsets of {self._key.decode()} in {self.topic}: "
                f"{errors[0] if errors else 'timed out'}",
                fix="check the brokers; the previous stored position stays valid",
            )

    def close(self) -> None:
        self._producer.flush(self._timeout)
