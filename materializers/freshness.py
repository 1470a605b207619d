"""Read-your-writes for a view: wait until it has applied a given source position.

A view has applied source position P when every partition of its topics has either applied a
change at or after P (the applied positions are stored with the offsets) or applied every
committed record there is (nothing newer to wait for; checked with a ``read_committed`` probe
consumer that reads from the stored offset and must meet the partition's end first).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from strangler.core.kafka import KafkaSettings, consumer_config
from strangler.materializers.config import ViewConfig
from strangler.materializers.errors import MaterializerError
from strangler.materializers.lag import PartitionLag
from strangler.materializers.positions import PositionKind, sort_key
from strangler.materializers.target import Partition, Target


class NotYetApplied(MaterializerError):
    """The view did not apply the position within the time given."""

    retriable = True


class Freshness:
    """Read-your-writes and offset lag of one view (see the module docstring)."""

    def __init__(self, view: ViewConfig, kafka: KafkaSettings, target: Target) -> None:
        self.view, self.target = view, target
        probe = {"enable.partition.eof": True}
        self.consumer = Consumer(consumer_config(kafka, view.group_id + "-probe", **probe))

    def close(self) -> None:
        self.consumer.close()

    def partitions(self) -> list[Partition]:
        metadata = self.consumer.list_topics(timeout=10)
        return [(t.topic, p) for t in self.view.topics for p in metadata.topics[t.topic].partitions]

    def has_applied(self, position: bytes) -> bool:
        """Whether every partition applied ``position`` (sort key) or everything it holds."""
        positions = self.target.load_positions(self.view.name)
        waiting = [p for p in self.partitions() if positions.get(p, b"") < position]
        if not waiting:
            return True
        return self._at_end(waiting, self.target.load_offsets(self.view.name))

    def wait_for(
        self,
        position: str,
        kind: PositionKind = PositionKind.PG_LSN,
        timeout_s: float = 10.0,
        interval_s: float = 0.02,
    ) -> None:
        """Return once the view has applied ``position``; ``NotYetApplied`` after the timeout."""
        key, deadline = sort_key(kind, position), time.monotonic() + timeout_s
        while not self.has_applied(key):
            if time.monotonic() > deadline:
                raise NotYetApplied(
                    f"view {self.view.name} has not applied {position} after {timeout_s} s",
                    fix="check that the view's materializer is running (lag metrics)",
                )
            time.sleep(interval_s)

    def _at_end(self, partitions: Iterable[Partition], offsets: Mapping[Partition, int]) -> bool:
        """True if no committed record follows the stored offset of any of ``partitions``."""
        pending = set(partitions)
        self.consumer.assign(
            [TopicPartition(t, p, offsets.get((t, p), OFFSET_BEGINNING)) for t, p in pending]
        )
        deadline = time.monotonic() + 2.0
        try:
            while pending and time.monotonic() < deadline:
                message = self.consumer.poll(0.1)
                if message is None:
                    continue
                error = message.error()
                if error is None:
                    return False  # a record the view has not applied yet
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((message.topic() or "", message.partition() or 0))
            return not pending
        finally:
            self.consumer.unassign()

    def offset_lag(self) -> dict[Partition, PartitionLag]:
        """Records between the stored offsets and the end of each partition."""
        stored = self.target.load_offsets(self.view.name)
        out: dict[Partition, PartitionLag] = {}
        for topic, partition in self.partitions():
            tp = TopicPartition(topic, partition)
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            behind = max(0, high - stored.get((topic, partition), 0))
            out[(topic, partition)] = PartitionLag(behind, None)
        return out
