"""Rebuilding a view from the beginning of its topics into shadow tables, then swapping them in
atomically while the old tables keep serving reads.

The shadow is an ordinary view of its own (``<view>__rebuild``, tables ``<table>__strangler_
shadow``) in the same database, applied by the same applier, so it is exactly once too: a
rebuild that crashes resumes where it stopped. When the shadow has reached the end of every
partition, one transaction locks the live tables (PostgreSQL; SQLite's write lock is the
transaction itself), checks that the shadow is not behind the live view on any partition (if
it is, it catches up and tries again), drops the live tables, renames the shadows into their
place and hands the shadow's offsets and table shapes to the view. Readers see the old tables
until that commit and the new ones after it; never a mix, never an empty table.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from strangler.core.kafka import KafkaSettings, consumer_config
from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import RecordDecoder
from strangler.materializers.errors import MaterializerError
from strangler.materializers.schemas import SchemaSource
from strangler.materializers.target import Partition, TableState, Target

log = logging.getLogger(__name__)

SHADOW_SUFFIX = "__strangler_shadow"


def shadow_view(view: ViewConfig) -> ViewConfig:
    """The view the rebuild fills: same topics, tables renamed ``<table>__strangler_shadow``."""
    topics = [t.model_copy(update={"table": t.table_name + SHADOW_SUFFIX}) for t in view.topics]
    return view.model_copy(update={"name": view.name + "__rebuild", "topics": topics})


def _behind(have: Mapping[Partition, int], goal: Mapping[Partition, int]) -> list[Partition]:
    return [p for p, offset in goal.items() if have.get(p, 0) < offset]


class Rebuild:
    """One rebuild of one view (see the module docstring)."""

    def __init__(
        self, view: ViewConfig, kafka: KafkaSettings, schemas: SchemaSource, target: Target
    ) -> None:
        self.view, self.shadow, self.target = view, shadow_view(view), target
        self.applier = Applier(self.shadow, target)
        self.decoder = RecordDecoder(self.shadow.topics, schemas)
        extra = {"enable.partition.eof": True, **view.consumer}
        self.consumer = Consumer(consumer_config(kafka, self.shadow.group_id, **extra))

    def run(self, max_rounds: int = 20) -> None:
        """Fill the shadow, then swap it in; raises if the live view outruns it every time."""
        try:
            partitions = self._assign()
            goal: dict[Partition, int] = {}
            for _ in range(max_rounds):
                self._catch_up(goal, set(partitions))
                goal = self._swap()
                if not goal:
                    log.info("view %s rebuilt and swapped in", self.view.name)
                    return
        finally:
            self.consumer.close()
        raise MaterializerError(
            f"the rebuild of view {self.view.name} could not catch up with the live view",
            fix="run the rebuild again; it resumes from where it stopped",
        )

    def _assign(self) -> list[Partition]:
        stored = self.applier.stored_offsets()
        metadata = self.consumer.list_topics(timeout=30)
        assignment = []
        for topic in self.shadow.topics:
            for partition in metadata.topics[topic.topic].partitions:
                start = stored.get((topic.topic, partition), OFFSET_BEGINNING)
                assignment.append(TopicPartition(topic.topic, partition, start))
        self.consumer.assign(assignment)
        return [(tp.topic, tp.partition) for tp in assignment]

    def _catch_up(self, goal: Mapping[Partition, int], pending: set[Partition]) -> None:
        """Apply until every partition hit its end once and none is behind ``goal``."""
        at_end: set[Partition] = set()
        while not (pending <= at_end and not _behind(self.applier.stored_offsets(), goal)):
            messages = self.consumer.consume(self.shadow.batch_size, 0.5)
            batch = []
            for message in messages:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic() or "", message.partition() or 0))
                elif error is not None:
                    raise MaterializerError(f"Kafka consumer error during rebuild: {error}")
                else:
                    batch.append(self.decoder.decode(message))
            self.applier.apply(batch)

    def _swap(self) -> dict[Partition, int]:
        """Swap the shadow in; or, if the live view is ahead somewhere, return its offsets."""
        self.target.begin()
        try:
            self.target.lock_tables([t.table_name for t in self.view.topics])
            live = self.target.load_offsets(self.view.name)
            shadow = self.target.load_offsets(self.shadow.name)
            if _behind(shadow, live):
                self.target.rollback()
                return dict(live)
            self._hand_over(shadow)
        except BaseException:
            self.target.rollback()
            raise
        self.target.commit()
        return {}

    def _hand_over(self, offsets: Mapping[Partition, int]) -> None:
        tables = self.target.load_tables(self.shadow.name)
        for live_topic in self.view.topics:
            state = tables.get(live_topic.topic)
            if state is None:
                continue  # the topic is empty: nothing to swap
            self.target.swap_table(live_topic.table_name, state.spec.name)
            spec = dataclasses.replace(state.spec, name=live_topic.table_name)
            live_state = TableState(spec, state.truncated_at)
            self.target.save_table(self.view.name, live_topic.topic, live_state)
        self.target.save_offsets(self.view.name, offsets)
        self.target.save_positions(self.view.name, self.target.load_positions(self.shadow.name))
        self.target.forget_view(self.shadow.name)
