"""``strangler topics describe FILE``: the pipeline's table topics as Kafka and the registry see
them: partitions, cleanup.policy, end offsets, a record count estimate, and the latest key and
value schema (subject, version, id).

A pipeline's table topics are those of its sources (``<topic_prefix>.<schema>.<table>`` for the
tables their patterns select, as listed by Kafka: the source database need not be up) and those
its views follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strangler.cli.output import emit_json, table
from strangler.core.errors import ServiceUnavailable
from strangler.core.events import TableId

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.schema_registry.client import RegistryClient

    AnySource = PostgresSource | MysqlSource


def source_topics(source: AnySource, existing: set[str]) -> list[str]:
    """The topics among ``existing`` that hold tables ``source`` captures."""
    prefix = source.topic_prefix + "."
    found = []
    for topic in existing:
        schema, dot, name = topic.removeprefix(prefix).partition(".")
        if topic.startswith(prefix) and dot and source.tables.matches(TableId(schema, name)):
            found.append(topic)
    return sorted(found)


def pipeline_topics(config: PipelineConfig, existing: set[str]) -> list[str]:
    """The sources' topics that exist, and every topic a view follows."""
    names = {t for s in config.sources for t in source_topics(s, existing)}
    names |= {t.topic for v in config.views for t in v.topics}
    return sorted(names)


@dataclass(frozen=True, slots=True)
class TopicFacts:
    topic: str
    exists: bool
    partitions: int | None = None
    cleanup_policy: str | None = None
    end_offsets: dict[int, int] | None = None
    records: int | None = None
    """Sum of (end - start) over the partitions: compaction and transaction markers make it an
    estimate."""
    key_schema: str | None = None
    value_schema: str | None = None
    """``<subject> v<version> id <id>``; None when the subject is not registered."""


def describe_topics(config: PipelineConfig) -> list[TopicFacts]:
    from strangler.cli.services import kafka_admin, kafka_consumer, kafka_metadata

    admin = kafka_admin(config.kafka)
    metadata = kafka_metadata(admin, config.kafka)
    existing = {name: len(t.partitions) for name, t in metadata.topics.items()}
    names = pipeline_topics(config, set(existing))
    policies = cleanup_policies(admin, [n for n in names if n in existing])
    consumer = kafka_consumer(config.kafka, "strangler-topics-describe")
    registry = _registry(config)
    url = config.registry.url if config.registry is not None else ""

    def latest(subject: str) -> str | None:
        return _latest(registry, url, subject)

    try:
        return [
            _describe(name, existing.get(name), policies.get(name), consumer, latest)
            for name in names
        ]
    finally:
        consumer.close()
        if registry is not None:
            registry.close()


def _registry(config: PipelineConfig) -> RegistryClient | None:
    """A client of the registry, checked to answer (so a down registry is one clear error)."""
    from strangler.cli.services import registry_client, registry_get

    if config.registry is None:
        return None
    registry_get(config.registry.url, "/config")
    return registry_client(config.registry.url)


def _describe(
    name: str,
    partitions: int | None,
    policy: str | None,
    consumer: Any,
    latest: Callable[[str], str | None],
) -> TopicFacts:
    if partitions is None:
        return TopicFacts(name, exists=False)
    ends = _watermarks(consumer, name, partitions)
    return TopicFacts(
        name, True, partitions, policy,
        end_offsets={p: high for p, (_, high) in ends.items()},
        records=sum(high - low for low, high in ends.values()),
        key_schema=latest(f"{name}-key"),
        value_schema=latest(f"{name}-value"),
    )  # fmt: skip


def _watermarks(consumer: Any, topic: str, partitions: int) -> dict[int, tuple[int, int]]:
    from confluent_kafka import KafkaException, TopicPartition

    from strangler.cli.services import TIMEOUT_S

    out = {}
    for p in range(partitions):
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)
        except KafkaException as exc:
            raise ServiceUnavailable(
                f"Kafka did not give the offsets of {topic} partition {p}: {exc.args[0].str()}",
                fix="check that the partition's leader broker runs",
            ) from exc
        out[p] = (int(low), int(high))
    return out


def cleanup_policies(admin: Any, names: list[str]) -> dict[str, str]:
    """cleanup.policy of each topic whose configuration could be read."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource, ResourceType

    from strangler.cli.services import TIMEOUT_S

    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    out = {}
    for resource, future in admin.describe_configs(resources, request_timeout=TIMEOUT_S).items():
        try:
            entry = future.result(TIMEOUT_S)["cleanup.policy"]
        except KafkaException:
            continue  # shown as '-': the topic may have been deleted a moment ago
        out[resource.name] = str(entry.value or "")
    return out


def _latest(registry: RegistryClient | None, url: str, subject: str) -> str | None:
    from strangler.cli.services import registry_unreachable
    from strangler.schema_registry.client import RegistryRequestFailed

    if registry is None:
        return None
    try:
        schema_id, version, _ = registry.latest(subject)
    except RegistryRequestFailed as exc:
        if exc.status == 404:
            return None
        if exc.status == 0:
            raise registry_unreachable(url, exc.message) from exc
        raise ServiceUnavailable(f"the schema registry failed on {subject}: {exc.message}") from exc
    return f"{subject} v{version} id {schema_id}"


@click.group("topics")
def topics_command() -> None:
    """The pipeline's table topics."""


@topics_command.command("describe")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def describe(file: Path, as_json: bool) -> None:
    """Partitions, cleanup.policy, end offsets, records and registered schemas per topic.

    Exit codes: 2 bad file, 3 Kafka or the registry unreachable.
    """
    from strangler.cli.config import load_pipeline

    facts = describe_topics(load_pipeline(file))
    if as_json:
        emit_json({"topics": [asdict(f) for f in facts]})
        return
    if not facts:
        click.echo("no table topics yet (start the sources: strangler connect FILE)")
        return
    rows = [_row(f) for f in facts]
    columns = ["topic", "partitions", "cleanup", "end_offsets", "records", "key", "value"]
    click.echo(table(rows, columns))


def _row(facts: TopicFacts) -> dict[str, Any]:
    if not facts.exists:
        return {"topic": facts.topic, "partitions": "missing"}
    ends = facts.end_offsets or {}
    return {
        "topic": facts.topic,
        "partitions": facts.partitions,
        "cleanup": facts.cleanup_policy,
        "end_offsets": ",".join(f"{p}:{o}" for p, o in sorted(ends.items())),
        "records": f"~{facts.records}",
        "key": facts.key_schema or "not registered",
        "value": facts.value_schema or "not registered",
    }
