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

Only the topics the view follows now count: after the view's topic was changed in the
pipeline file (same view, a new topic), the live view's offsets on the old topic are not a
goal the shadow could ever reach, so they are ignored while catching up and dropped, with the
old topic's table shape, at the swap. Catching up says how far it got every few seconds, and
gives up with an error when nothing moves for ``stall_timeout_s`` (a live view ahead of the
end of its topic: the topic was deleted and created again).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Collection, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from strangler.core.kafka import KafkaSettings, consumer_config
from strangler.materializers.applier import Applier
from strangler.materializers.config import ViewConfig
from strangler.materializers.decoding import RecordDecoder
from strangler.materializers.errors import MaterializerError
from strangler.materializers.runner import wait_for_topics
from strangler.materializers.schemas import SchemaSource
from strangler.materializers.target import Partition, TableState, Target

log = logging.getLogger(__name__)

SHADOW_SUFFIX = "__strangler_shadow"
PROGRESS_INTERVAL_S = 5.0
STALL_TIMEOUT_S = 120.0


def shadow_view(view: ViewConfig) -> ViewConfig:
    """The view the rebuild fills: same topics, tables renamed ``<table>__strangler_shadow``."""
    topics = [t.model_copy(update={"table": t.table_name + SHADOW_SUFFIX}) for t in view.topics]
    return view.model_copy(update={"name": view.name + "__rebuild", "topics": topics})


def _behind(have: Mapping[Partition, int], goal: Mapping[Partition, int]) -> list[Partition]:
    return [p for p, offset in goal.items() if have.get(p, 0) < offset]


def _followed(offsets: Mapping[Partition, int], topics: Collection[str]) -> dict[Partition, int]:
    """The offsets of partitions of ``topics`` (a view's stored offsets may name topics it no
    longer follows)."""
    return {p: offset for p, offset in offsets.items() if p[0] in topics}


def _names(partitions: Collection[Partition]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(partitions))


class _Progress:
    """Says how far a catch-up got every ``PROGRESS_INTERVAL_S``; raises when nothing was
    applied and no partition reached its end for ``stall_timeout_s``."""

    def __init__(self, view: str, stall_timeout_s: float) -> None:
        self.view, self.stall_timeout_s = view, stall_timeout_s
        self.applied = 0
        self._moved = self._said = time.monotonic()

    def step(self, applied: int, moved: bool, waiting: Collection[Partition]) -> None:
        now = time.monotonic()
        self.applied += applied
        if applied or moved:
            self._moved = now
        if now - self._said >= PROGRESS_INTERVAL_S:
            self._said = now
            log.info(
                "rebuild of view %s: %d records applied; still reading %s",
                self.view, self.applied, _names(waiting),
            )  # fmt: skip
        if now - self._moved >= self.stall_timeout_s:
            raise MaterializerError(
                f"the rebuild of view {self.view} made no progress for "
                f"{self.stall_timeout_s:.0f} s: {_names(waiting)} cannot reach the offsets "
                "the live view stored (was a topic deleted and created again?)",
                fix="check the view's topics (`strangler topics`); if a topic was recreated, "
                "delete the view's database and run `strangler materialize` to build it anew",
            )


class Rebuild:
    """One rebuild of one view (see the module docstring)."""

    def __init__(
        self,
        view: ViewConfig,
        kafka: KafkaSettings,
        schemas: SchemaSource,
        target: Target,
        stall_timeout_s: float = STALL_TIMEOUT_S,
    ) -> None:
        self.view, self.shadow, self.target = view, shadow_view(view), target
        self.topics = frozenset(t.topic for t in view.topics)
        self.stall_timeout_s = stall_timeout_s
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
                log.info(
                    "view %s: the live view moved on during the rebuild (%s); catching up",
                    self.view.name, _names(goal),
                )  # fmt: skip
        finally:
            self.consumer.close()
        raise MaterializerError(
            f"the rebuild of view {self.view.name} could not catch up with the live view",
            fix="run the rebuild again; it resumes from where it stopped",
        )

    def _assign(self) -> list[Partition]:
        stored = self.applier.stored_offsets()
        wait_for_topics(self.consumer, sorted(self.topics), threading.Event())
        metadata = self.consumer.list_topics(timeout=30)
        assignment = []
        for topic in self.shadow.topics:
            for partition in metadata.topics[topic.topic].partitions:
                start = stored.get((topic.topic, partition), OFFSET_BEGINNING)
                assignment.append(TopicPartition(topic.topic, partition, start))
        self.consumer.assign(assignment)
        origin = "where the last attempt stopped" if stored else "the beginning of its topics"
        log.info("rebuilding view %s from %s", self.view.name, origin)
        return [(tp.topic, tp.partition) for tp in assignment]

    def _catch_up(self, goal: Mapping[Partition, int], pending: set[Partition]) -> None:
        """Apply until every partition hit its end once and none is behind ``goal``."""
        at_end: set[Partition] = set()
        progress = _Progress(self.view.name, self.stall_timeout_s)
        while True:
            waiting = (pending - at_end) | set(_behind(self.applier.stored_offsets(), goal))
            if not waiting:
                return
            messages = self.consumer.consume(self.shadow.batch_size, 0.5)
            batch = []
            ends = len(at_end)
            for message in messages:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic() or "", message.partition() or 0))
                elif error is not None:
                    raise MaterializerError(f"Kafka consumer error during rebuild: {error}")
                else:
                    batch.append(self.decoder.decode(message))
            self.applier.apply(batch)
            progress.step(len(batch), len(at_end) > ends, waiting)

    def _swap(self) -> dict[Partition, int]:
        """Swap the shadow in; or, if the live view is ahead somewhere, return its offsets."""
        self.target.begin()
        try:
            self.target.lock_tables([t.table_name for t in self.view.topics])
            live = _followed(self.target.load_offsets(self.view.name), self.topics)
            shadow = self.target.load_offsets(self.shadow.name)
            if _behind(shadow, live):
                self.target.rollback()
                return live
            self._hand_over({**live, **shadow})
        except BaseException:
            self.target.rollback()
            raise
        self.target.commit()
        return {}

    def _hand_over(self, offsets: Mapping[Partition, int]) -> None:
        """The shadow's tables, offsets and positions become the view's; what the view kept of
        topics it no longer follows is forgotten (their tables stay, unread, for the user)."""
        tables = self.target.load_tables(self.shadow.name)
        live_tables = self.target.load_tables(self.view.name)
        self._forget_unfollowed(live_tables)
        for live_topic in self.view.topics:
            state = tables.get(live_topic.topic)
            if state is None:  # the topic is empty: nothing to swap, the live shape stays
                kept = live_tables.get(live_topic.topic)
                if kept is not None:
                    self.target.save_table(self.view.name, live_topic.topic, kept)
                continue
            self.target.swap_table(live_topic.table_name, state.spec.name)
            spec = dataclasses.replace(state.spec, name=live_topic.table_name)
            live_state = TableState(spec, state.truncated_at)
            self.target.save_table(self.view.name, live_topic.topic, live_state)
        self.target.save_offsets(self.view.name, offsets)
        self.target.save_positions(self.view.name, self.target.load_positions(self.shadow.name))
        self.target.forget_view(self.shadow.name)

    def _forget_unfollowed(self, live_tables: Mapping[str, TableState]) -> None:
        """Forget all of the view's offsets and table shapes (the hand-over saves again those of
        the topics it follows), saying which tables no topic fills any more."""
        self.target.forget_view(self.view.name)
        names = {t.table_name for t in self.view.topics}
        for topic, state in sorted(live_tables.items()):
            if topic not in self.topics and state.spec.name not in names:
                log.warning(
                    "view %s no longer follows topic %s; its table %s is left as it is: "
                    "drop it when nothing reads it",
                    self.view.name, topic, state.spec.name,
                )  # fmt: skip
