"""A model table changelog for materializer tests: events, their records, and the view a
sequential replay of them leaves (the oracle the applier is checked against)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from strangler.core.events import Op
from strangler.materializers.records import ChangeRecord, WriterSchema

TOPIC = "shop.public.items"

KEY = WriterSchema(
    1,
    {
        "type": "record",
        "name": "Key",
        "fields": [{"name": "id", "type": "long"}],
    },
)
_V1_FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "long"},
    {"name": "name", "type": ["null", "string"], "default": None},
    {"name": "amount", "type": ["null", "long"], "default": None},
]
VALUE_SCHEMAS = {
    1: WriterSchema(2, {"type": "record", "name": "Value", "fields": _V1_FIELDS}),
    2: WriterSchema(
        3,
        {
            "type": "record",
            "name": "Value",
            "fields": [*_V1_FIELDS, {"name": "note", "type": ["null", "string"], "default": None}],
        },
    ),
}


@dataclass(frozen=True)
class Event:
    """One change: upsert (values given), delete (values None, key given) or truncate (key
    None)."""

    key: int | None
    values: Mapping[str, Any] | None = None
    version: int = 1


def position(n: int) -> bytes:
    return n.to_bytes(8, "big")


def records(
    events: Sequence[Event], positions: Sequence[int], topic: str = TOPIC, partition: int = 0
) -> list[ChangeRecord]:
    """The Kafka records of ``events``, offsets 0.., at the given source positions."""
    return [
        _record(e, offset, position(p), topic, partition)
        for offset, (e, p) in enumerate(zip(events, positions, strict=True))
    ]


def _record(event: Event, offset: int, pos: bytes, topic: str, partition: int) -> ChangeRecord:
    if event.key is None:
        return ChangeRecord(topic, partition, offset, Op.TRUNCATE, pos, None, None)
    key = {"id": event.key}
    if event.values is None:
        return ChangeRecord(topic, partition, offset, Op.DELETE, pos, key, None, KEY, None)
    schema = VALUE_SCHEMAS[event.version]
    value = {f["name"]: event.values.get(f["name"]) for f in schema.schema["fields"]}
    value["id"] = event.key
    return ChangeRecord(topic, partition, offset, Op.UPDATE, pos, key, value, KEY, schema)


def replay(events: Sequence[Event]) -> dict[int, dict[str, Any]]:
    """The view a sequential replay leaves: key → row (columns of the record's schema)."""
    view: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.key is None:
            view.clear()
        elif event.values is None:
            view.pop(event.key, None)
        else:
            fields = [f["name"] for f in VALUE_SCHEMAS[event.version].schema["fields"]]
            view[event.key] = {f: event.values.get(f) for f in fields if f != "id"}
    return view


def normalise(view: Mapping[int, Mapping[str, Any]], columns: Sequence[str]) -> dict[int, Any]:
    """Rows with exactly ``columns`` (absent ones as None), for comparing with a table."""
    return {k: tuple(row.get(c) for c in columns) for k, row in view.items()}
