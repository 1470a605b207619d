"""``strangler verify FILE``: prove that views (or topics) equal their source tables.

For each view of FILE (or those named with ``--view``), each of its topics is traced back to
the source table that produces it (the source whose ``topic_prefix`` and table selection give
that topic name); the source rows, projected, renamed and filtered as the view declares, are
compared with the view's table (see ``strangler.materializers.verify``). With ``--table`` and
no ``--view``, each named table's compacted topic (its latest state per key) is compared with
the source table instead.

Exit codes: 0 every comparison equal; 8 a view or topic differs from its source (after
settling); 2 a config problem; 3 a service that cannot be reached; 1 any other error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strangler.cli.logsetup import verbosity
from strangler.cli.output import emit_json, table
from strangler.core.errors import ConfigError, ServiceUnavailable, StranglerError

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.core.events import TableId
    from strangler.materializers.config import TopicConfig, ViewConfig
    from strangler.materializers.tables import TableSpec
    from strangler.materializers.verify import Layout, Result
    from strangler.materializers.verify_readers import Reader, TableRead

    AnySource = PostgresSource | MysqlSource


@dataclass(frozen=True, slots=True)
class _Job:
    """One comparison to run: a name, its layout and how to open each side."""

    name: str
    layout: Layout
    open_source: Callable[[], Reader]
    open_view: Callable[[], Reader]


def _source_tables(source: AnySource) -> list[TableId]:
    """The tables the source captures (as its database lists them)."""
    import psycopg
    import pymysql

    from strangler.connectors.mysql.config import MysqlSource

    try:
        found = _mysql_tables(source) if isinstance(source, MysqlSource) else _pg_tables(source)
    except (psycopg.OperationalError, pymysql.err.OperationalError) as exc:
        raise ServiceUnavailable(
            f"source {source.name}: cannot list its tables: {str(exc).strip().splitlines()[0]}",
            fix=f"check that the database of source {source.name} runs and accepts connections",
        ) from exc
    return source.tables.select(found)


def _mysql_tables(source: MysqlSource) -> list[TableId]:
    import pymysql

    from strangler.core.events import TableId

    with pymysql.connect(**source.connection_settings()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE'"
        )
        return [TableId(str(s), str(t)) for s, t in cur.fetchall()]


def _pg_tables(source: PostgresSource) -> list[TableId]:
    import psycopg

    from strangler.core.events import TableId

    with psycopg.connect(source.dsn.get_secret_value()) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p')"
        ).fetchall()
    return [TableId(s, t) for s, t in rows]


class _Sources:
    """Finds the source table behind a topic (tables listed once per source)."""

    def __init__(self, pipeline: PipelineConfig) -> None:
        assert pipeline.registry is not None  # the pipeline model requires it with sources
        self.pipeline, self.registry_url = pipeline, pipeline.registry.url
        self._tables: dict[str, list[TableId]] = {}

    def tables(self, source: AnySource) -> list[TableId]:
        if source.name not in self._tables:
            self._tables[source.name] = _source_tables(source)
        return self._tables[source.name]

    def for_topic(self, topic: str) -> tuple[AnySource, TableId] | None:
        from strangler.connectors.topics import table_topic

        for source in self.pipeline.sources:
            if not topic.startswith(source.topic_prefix + "."):
                continue
            for table_id in self.tables(source):
                if table_topic(source.topic_prefix, table_id) == topic:
                    return source, table_id
        return None

    def named(self, name: str) -> tuple[AnySource, TableId]:
        """The source table called ``schema.table`` (or whose topic is ``name``)."""
        from strangler.connectors.topics import table_topic

        for source in self.pipeline.sources:
            for table_id in self.tables(source):
                if name in (str(table_id), table_topic(source.topic_prefix, table_id)):
                    return source, table_id
        raise ConfigError(
            f"no source of the pipeline captures a table {name}",
            fix="name a captured table as schema.table (or its topic)",
        )


def _source_reader(source: AnySource, read: TableRead, table_id: TableId) -> Reader:
    """The source table read as the connector reads it: its own parsers and codecs decide
    the value of every column (so the comparison is with what it publishes)."""
    from strangler.connectors.mysql.config import MysqlSource

    if isinstance(source, MysqlSource):
        return _mysql_reader(source, read, table_id)
    return _pg_reader(source, read, table_id)


def _pg_reader(source: PostgresSource, read: TableRead, table_id: TableId) -> Reader:
    import psycopg

    from strangler.connectors.postgres.catalog import describe_table, load_types
    from strangler.connectors.postgres.pgtext import SESSION_SETTINGS
    from strangler.connectors.postgres.rows import column_types
    from strangler.materializers.verify_readers import PostgresReader

    dsn = source.dsn.get_secret_value()
    try:
        with psycopg.connect(dsn) as conn:
            relation = describe_table(conn, table_id)
            catalog = load_types(conn, [c.type_oid for c in relation.columns])
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(
            f"source {source.name}: cannot connect to PostgreSQL: {str(exc).strip()}",
            fix="check the source's dsn and that the server runs",
        ) from exc
    types = column_types(relation, catalog)
    parse = {c.name: t.parse for c, t in zip(relation.columns, types, strict=True)}
    return PostgresReader(dsn, read, str(table_id), parse=parse, session=SESSION_SETTINGS)


def _mysql_reader(source: MysqlSource, read: TableRead, table_id: TableId) -> Reader:
    import pymysql

    from strangler.connectors.mysql.catalog import describe_table
    from strangler.connectors.mysql.snapshot import snapshot_connection
    from strangler.materializers.verify_readers import MysqlReader

    try:
        conn = snapshot_connection(source.connection_settings())
    except pymysql.err.OperationalError as exc:
        raise ServiceUnavailable(
            f"source {source.name}: cannot connect to MySQL: {exc}",
            fix="check the source's url and that the server runs",
        ) from exc
    key = source.key_override(table_id)
    codec = describe_table(conn, table_id, list(key) if key is not None else None)
    columns = [c.name for c in codec.columns]
    return MysqlReader(conn, columns, codec.from_text, read, str(table_id))


def _view_reader(view: ViewConfig, spec: TableSpec) -> Reader:
    from strangler.materializers.verify_readers import PostgresReader, SqliteReader, TableRead

    label = f"view {view.name}"
    schema = view.target.postgres.db_schema if view.target.postgres else None
    named = tuple((c.name, c.avro_type) for c in spec.columns)
    read = TableRead(schema, spec.name, named, len(spec.key))
    if view.target.sqlite is not None:
        return SqliteReader(view.target.sqlite.path, read, label)
    assert view.target.postgres is not None  # the config model checks exactly one is given
    return PostgresReader(view.target.postgres.dsn.get_secret_value(), read, label)


def _made_view_reader(view: ViewConfig, topic: str) -> Reader | None:
    """The view's table of ``topic`` once the materializer has made it (else None)."""
    from strangler.materializers.verify_readers import load_view_specs

    spec = load_view_specs(view.target, view.name).get(topic)
    return _view_reader(view, spec) if spec is not None else None


def _source_read(table_id: TableId, spec: TableSpec, topic: TopicConfig | None) -> TableRead:
    """What to read of the source table: the view table's columns by their source names."""
    from strangler.materializers.verify_readers import TableRead

    columns = tuple((c.source, c.avro_type) for c in spec.columns)
    row_filter = topic.filter if topic is not None else None
    return TableRead(table_id.schema, table_id.name, columns, len(spec.key), row_filter)


def _view_jobs(sources: _Sources, view: ViewConfig, tables: tuple[str, ...]) -> Iterator[_Job]:
    from strangler.materializers.verify import Layout
    from strangler.materializers.verify_readers import PendingReader, load_view_specs
    from strangler.materializers.verify_topic import latest_spec

    specs = load_view_specs(view.target, view.name)
    for topic in view.topics:
        found = sources.for_topic(topic.topic)
        if tables and not _named(topic, found, tables):
            continue
        if found is None:
            raise ConfigError(
                f"view {view.name}: no source of the pipeline produces topic {topic.topic}",
                fix="verify views whose topics come from this pipeline's sources",
            )
        source, table_id = found
        spec = specs.get(topic.topic)
        open_view: Callable[[], Reader]
        if spec is None:  # nothing applied yet: the view's table is empty (or not made yet)
            spec = latest_spec(sources.registry_url, topic)
            reopen = partial(_made_view_reader, view, topic.topic)
            open_view = partial(PendingReader, f"view {view.name}", reopen)
        else:
            open_view = partial(_view_reader, view, spec)
        yield _Job(
            f"{view.name}/{spec.name}",
            Layout.of(spec),
            partial(_source_reader, source, _source_read(table_id, spec, topic), table_id),
            open_view,
        )


def _named(
    topic: TopicConfig, found: tuple[AnySource, TableId] | None, tables: tuple[str, ...]
) -> bool:
    """Whether ``--table`` names this topic (by topic, view table or source table)."""
    names = {topic.topic, topic.table_name, *([str(found[1])] if found else [])}
    return bool(names & set(tables))


def _topic_jobs(sources: _Sources, tables: tuple[str, ...]) -> Iterator[_Job]:
    from strangler.connectors.topics import table_topic
    from strangler.materializers.config import TopicConfig
    from strangler.materializers.verify import Layout
    from strangler.materializers.verify_topic import TopicReader, latest_spec

    pipeline = sources.pipeline
    url = sources.registry_url
    for name in tables:
        source, table_id = sources.named(name)
        topic = table_topic(source.topic_prefix, table_id)
        spec = latest_spec(url, TopicConfig(topic=topic))
        layout = Layout.of(spec)
        yield _Job(
            f"topic {topic}",
            layout,
            partial(_source_reader, source, _source_read(table_id, spec, None), table_id),
            partial(TopicReader, pipeline.kafka, url, topic, spec, layout.order_key()),
        )


def _jobs(pipeline: PipelineConfig, views: tuple[str, ...], tables: tuple[str, ...]) -> list[_Job]:
    if not pipeline.sources:
        raise ConfigError(
            "the pipeline has no `sources:` section: there is nothing to verify against",
            fix="declare the source databases under `sources:`",
        )
    sources = _Sources(pipeline)
    if tables and not views:
        return list(_topic_jobs(sources, tables))
    if not pipeline.views:
        raise ConfigError(
            "the pipeline has no `views:` section",
            fix="declare a view, or verify a table's topic with --table schema.table",
        )
    from strangler.materializers.service import select_views

    chosen = select_views(pipeline.materialize_config(), views)
    jobs = [job for view in chosen for job in _view_jobs(sources, view, tables)]
    if not jobs:
        raise ConfigError(
            f"no topic of the chosen views comes from table(s) {', '.join(tables)}",
            fix="name a table of a view's topic (schema.table, topic or view table name)",
        )
    return jobs


class _Progress:
    """A line on stderr every few seconds while a large table is compared."""

    def __init__(self, name: str, total: int, every_s: float = 2.0) -> None:
        self.name, self.total, self.every_s = name, total, every_s
        self._last = time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            click.echo(f"{self.name}: {rows:,} of ~{self.total:,} source rows compared", err=True)


def _run(job: _Job, settle: float, show_progress: bool) -> Result:
    """Compare one job's sides; a database refusing a query is one message, not a traceback."""
    import sqlite3

    import psycopg
    import pymysql

    try:
        return _compare(job, settle, show_progress)
    except (psycopg.Error, sqlite3.Error, pymysql.err.Error) as exc:
        raise StranglerError(
            f"{job.name}: a database refused the comparison: {str(exc).strip().splitlines()[0]}",
            fix="check that the source table and the view table both have the view's columns "
            "(after a source column was dropped or renamed, rebuild the view)",
        ) from exc


def _compare(job: _Job, settle: float, show_progress: bool) -> Result:
    from strangler.materializers.verify import Comparison

    source = job.open_source()
    try:
        view = job.open_view()
        try:
            progress = _Progress(job.name, source.count()) if show_progress else None
            comparison = Comparison(job.layout, source, view, settle_s=settle, progress=progress)
            return comparison.run(job.name)
        finally:
            view.close()
    finally:
        source.close()


def _summary(results: list[Result]) -> str:
    rows = [
        {
            "verified": r.name,
            "source": r.source,
            "source_rows": r.source_rows,
            "view_rows": r.view_rows,
            "missing": r.count("missing"),
            "extra": r.count("extra"),
            "different": r.count("different"),
            "status": "equal" if r.equal else "DIVERGED",
            "seconds": f"{r.seconds:.1f}",
        }
        for r in results
    ]
    columns = ["verified", "source", "source_rows", "view_rows", "missing", "extra"]
    return table(rows, [*columns, "different", "status", "seconds"])


def _samples(result: Result, limit: int) -> list[str]:
    lines = []
    for diff in result.differences[:limit]:
        key = ", ".join(f"{k}={v}" for k, v in diff.key.items())
        if diff.kind == "different":
            assert diff.source is not None and diff.view is not None  # both sides have the row
            changes = "; ".join(
                f"{c}: {diff.source.get(c)!r} (source) vs {diff.view.get(c)!r} (view)"
                for c in diff.columns
            )
            lines.append(f"  different  {key}: {changes}")
        else:
            where = "view" if diff.kind == "missing" else "source"
            lines.append(f"  {diff.kind:<9}  {key} (not in the {where})")
    hidden = sum(result.counts.values()) - min(limit, len(result.differences))
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (--sample-diffs, or --json for all)")
    return lines


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--view", "views", multiple=True, metavar="VIEW", help="Verify this view (repeatable)."
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="TABLE",
    help="Only this source table (schema.table, or its topic). Without --view: verify the "
    "table's topic against the source table (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option(
    "--sample-diffs",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Differing rows shown per table (--json lists up to 10,000).",
)
@click.option(
    "--settle",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long differing keys are re-checked before they count (the view may lag).",
)
def verify_command(
    file: Path,
    views: tuple[str, ...],
    tables: tuple[str, ...],
    as_json: bool,
    sample_diffs: int,
    settle: float,
) -> None:
    """Prove that FILE's views (or topics) equal their source tables.

    Rows are compared by key range with hashes, differing ranges drilled down to rows, and
    differing rows re-checked until --settle passes. Exit 0: all equal; 8: a view or topic
    differs from its source (missing, extra or different rows).
    """
    from strangler.cli.config import load_pipeline
    from strangler.materializers.verify import Diverged

    pipeline = load_pipeline(file)
    jobs = _jobs(pipeline, views, tables)
    show_progress = not as_json and verbosity() >= 0
    results = [_run(job, settle, show_progress) for job in jobs]
    diverged = [r for r in results if not r.equal]
    if as_json:
        emit_json(_report(file, results))
    else:
        click.echo(_summary(results))
        for result in diverged:
            click.echo(f"\n{result.name}:")
            click.echo("\n".join(_samples(result, sample_diffs)))
    if diverged:
        names = ", ".join(r.name for r in diverged)
        raise Diverged(
            f"{len(diverged)} of {len(results)} verified table(s) differ from the source: {names}",
            fix="let the pipeline catch up and verify again (or raise --settle); if the "
            "difference stays, rebuild the view: strangler materialize FILE --rebuild VIEW",
        )


def _report(file: Path, results: list[Result]) -> dict[str, Any]:
    return {
        "file": str(file),
        "equal": all(r.equal for r in results),
        "results": [r.to_json() for r in results],
    }
