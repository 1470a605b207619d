"""``strangler teardown FILE``: remove what the pipeline left behind in the services.

Always the sources' own state: PostgreSQL replication slots, publications and snapshot
progress files; MySQL stored positions (file or Kafka offset store). ``--topics`` also deletes
the sources' table topics and their ``<topic>-key`` / ``<topic>-value`` subjects in the registry
(soft, then permanently: a later run registers the tables' shapes afresh instead of being held
to the deleted topics' compatibility); ``--views`` also forgets the views' bookkeeping (stored
offsets and table shapes: the next run re-reads every topic). What exists is listed first, and
nothing is dropped without a confirmation (``--yes`` in scripts). The dropping itself is the
connectors' ``teardown()``, which ``strangler connect --teardown`` runs too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from strangler.cli.confirm import confirm
from strangler.cli.services import TIMEOUT_S
from strangler.core.errors import ConfigError

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.materializers.config import ViewConfig

    AnySource = PostgresSource | MysqlSource


def drop_source_state(config: PipelineConfig, source: AnySource) -> list[str]:
    """Drop ``source``'s slot, publication and progress file (PostgreSQL) or its stored
    position (MySQL) through the connector's ``teardown()``; what was dropped."""
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.mysql.connector import MysqlConnector
    from strangler.connectors.postgres.connector import PostgresConnector
    from strangler.connectors.postgres.registrar import HttpRegistrar

    assert config.registry is not None  # the pipeline model requires it when there are sources
    registrar = HttpRegistrar(config.registry.url)
    if isinstance(source, MysqlSource):
        return MysqlConnector(source, config.kafka, registrar).teardown()
    return PostgresConnector(source, config.kafka, registrar).teardown()


def source_plan(config: PipelineConfig, source: AnySource) -> list[str]:
    """What ``drop_source_state`` would drop now (read without changing anything)."""
    from strangler.cli.positions import mysql_state
    from strangler.connectors.mysql.config import MysqlSource

    if isinstance(source, MysqlSource):
        state = mysql_state(source, config.kafka)
        if state is None:
            return []
        return [f"{source.name}: stored position {state.position.encode()} "
                f"({source.offsets.store.value} offset store)"]  # fmt: skip
    return _postgres_plan(source)


def _postgres_plan(source: PostgresSource) -> list[str]:
    from strangler.cli.positions import progress_file
    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.slot import find_slot

    with connect(source.dsn.get_secret_value(), connect_timeout=int(TIMEOUT_S)) as conn:
        slot = find_slot(conn, source.slot)
        publication = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s", (source.publication,)
        ).fetchone()
        database = conn.info.dbname
    if slot is not None and slot.active:
        raise ConfigError(
            f"replication slot {slot.name} is in use: a connector of source {source.name} runs",
            fix="stop the pipeline (or strangler connect) first, then run teardown again",
        )
    plan = []
    if slot is not None:
        plan.append(f"{source.name}: replication slot {slot.name} (at {slot.confirmed_flush})")
    if publication is not None:
        plan.append(f"{source.name}: publication {source.publication} of database {database}")
    progress = progress_file(source)
    if progress.path.exists():
        plan.append(f"{source.name}: snapshot progress file {progress.path}")
    return plan


def _topics(config: PipelineConfig, sources: list[AnySource]) -> list[str]:
    from strangler.cli.services import kafka_admin, kafka_metadata
    from strangler.cli.topics_cmd import source_topics

    existing = set(kafka_metadata(kafka_admin(config.kafka), config.kafka).topics)
    return sorted({t for s in sources for t in source_topics(s, existing)})


def _subjects(config: PipelineConfig, sources: list[AnySource]) -> list[str]:
    """The registry subjects of the sources' table topics (whether or not the topics exist)."""
    from strangler.cli.services import registry_client, registry_unreachable
    from strangler.cli.topics_cmd import source_topics
    from strangler.schema_registry.client import RegistryRequestFailed

    assert config.registry is not None  # required when there are sources
    url = config.registry.url
    client = registry_client(url)
    try:
        subjects = client.subjects()
    except RegistryRequestFailed as exc:
        raise registry_unreachable(url, str(exc)) from exc
    finally:
        client.close()
    by_topic: dict[str, list[str]] = {}
    for subject in subjects:
        for suffix in ("-key", "-value"):
            if subject.endswith(suffix):
                by_topic.setdefault(subject.removesuffix(suffix), []).append(subject)
    topics = {t for s in sources for t in source_topics(s, set(by_topic))}
    return sorted(subject for t in topics for subject in by_topic[t])


def _delete_subjects(config: PipelineConfig, subjects: list[str]) -> None:
    from strangler.cli.services import registry_client, registry_unreachable
    from strangler.schema_registry.client import RegistryRequestFailed

    assert config.registry is not None
    client = registry_client(config.registry.url)
    try:
        for subject in subjects:
            client.delete_subject(subject)
            client.delete_subject(subject, permanent=True)
    except RegistryRequestFailed as exc:
        raise registry_unreachable(config.registry.url, str(exc)) from exc
    finally:
        client.close()


def _delete_topics(config: PipelineConfig, topics: list[str]) -> None:
    from confluent_kafka import KafkaException

    from strangler.cli.services import kafka_admin
    from strangler.core.errors import ServiceUnavailable

    admin = kafka_admin(config.kafka)  # referenced until the futures are done
    for topic, future in admin.delete_topics(topics, request_timeout=30).items():
        try:
            future.result(30)
        except KafkaException as exc:
            raise ServiceUnavailable(
                f"Kafka did not delete topic {topic}: {exc.args[0].str()}",
                fix="check that the brokers run and allow deleting topics "
                "(delete.topic.enable, DELETE ACL), then run teardown again",
            ) from exc


def _views_plan(views: list[ViewConfig]) -> list[str]:
    from strangler.cli.positions import view_offsets

    return [
        f"view {v.name}: stored offsets ({len(view_offsets(v) or [])} partition(s)) and table "
        "shapes"
        for v in views
        if v.target.postgres is not None or (v.target.sqlite and v.target.sqlite.path.exists())
    ]


def _forget_views(views: list[ViewConfig]) -> None:
    from strangler.cli.positions import open_view_target

    for view in views:
        target = open_view_target(view)
        if target is None:
            continue
        try:
            target.begin()
            target.forget_view(view.name)
            target.commit()
        finally:
            target.close()


@click.command("teardown")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "only", multiple=True, metavar="S", help="Only this source (repeat).")
@click.option(
    "--topics", is_flag=True, help="Also delete the sources' table topics and their subjects."
)
@click.option("--views", is_flag=True, help="Also forget the views' offsets and table shapes.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
def teardown_command(
    file: Path, only: tuple[str, ...], topics: bool, views: bool, yes: bool
) -> None:
    """Drop the slots, publications and stored offsets of FILE's sources.

    Lists exactly what exists and will be dropped, then asks; without a terminal it refuses
    unless --yes. Stop the pipeline first. Exit codes: 2 bad file, unknown source or no
    confirmation possible; 3 a database or Kafka is unreachable.
    """
    from strangler.cli.config import load_pipeline
    from strangler.cli.connect import _select

    config = load_pipeline(file)
    sources = _select(config, only) if (config.sources or only) else []
    plan = [line for s in sources for line in source_plan(config, s)]
    table_topics = _topics(config, sources) if topics else []
    plan += [f"topic {t}" for t in table_topics]
    subjects = _subjects(config, sources) if topics and sources else []
    plan += [f"subject {s} (schema registry)" for s in subjects]
    chosen_views = list(config.views) if views else []
    plan += _views_plan(chosen_views)
    if not confirm("teardown", plan, yes=yes):
        return
    for source in sources:
        dropped = drop_source_state(config, source)
        click.echo(f"{source.name}: dropped {', '.join(dropped) or 'nothing'}")
    if table_topics:
        _delete_topics(config, table_topics)
        click.echo(f"deleted {len(table_topics)} topic(s)")
    if subjects:
        _delete_subjects(config, subjects)
        click.echo(f"deleted {len(subjects)} subject(s)")
    _forget_views(chosen_views)
    for view in chosen_views:
        click.echo(f"view {view.name}: offsets and table shapes forgotten")
