"""The registry waits out a leaderless ``_schemas`` partition (a broker that just restarted)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from strangler.schema_registry.errors import StoreError
from strangler.schema_registry.kafka_storage import KafkaStorage

pytestmark = pytest.mark.unit


class FlakyProbe:
    def __init__(self, errors: list[int]) -> None:
        self.errors = errors
        self.calls = 0

    def get_watermark_offsets(self, _partition: Any, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 0, 42


def storage_with(probe: FlakyProbe) -> KafkaStorage:
    storage = object.__new__(KafkaStorage)
    storage._topic = "_schemas"
    storage._probe = probe  # type: ignore[assignment]
    return storage


def test_not_leader_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    probe = FlakyProbe(
        [
            KafkaError._UNKNOWN_PARTITION,  # a topic just created, not yet in the metadata
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.LEADER_NOT_AVAILABLE,
        ]
    )
    assert storage_with(probe)._end_offset() == 42
    assert probe.calls == 4


def test_a_lasting_or_fatal_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    with pytest.raises(StoreError, match="cannot read the end of _schemas"):
        storage_with(FlakyProbe([KafkaError.TOPIC_AUTHORIZATION_FAILED]))._end_offset()
    with pytest.raises(StoreError, match="NOT_LEADER"):
        storage_with(FlakyProbe([KafkaError.NOT_LEADER_FOR_PARTITION] * 1000))._end_offset(0.0)
