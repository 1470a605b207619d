"""``strangler snapshot FILE --table T [--source S] [--wait]``: re-snapshot one table while
streaming continues.

PostgreSQL: the request is a signal written into the source's WAL
(``connectors.postgres.incremental``): the running connector (``strangler run`` or ``connect``)
picks it up from its own stream and reads the table in key-ordered chunks between watermarks,
so the topic still converges to the table while changes keep flowing. When no connector runs,
the request waits in the slot's WAL and starts when one runs again.

MySQL/MariaDB: the request is a signal file in the source's state_dir
(``connectors.mysql.incremental``; the command must run where the connector keeps its state),
and each chunk is read at an exact binlog position. ``--wait`` follows a request until it is
done (both engines record progress in ``<state_dir>/<source>.incremental.json``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.connectors.resnapshot import Request
    from strangler.core.events import TableId


@click.command("snapshot")
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", "table_name", required=True, help="schema.table to re-snapshot.")
@click.option("--source", "source_name", help="The source capturing it (when several do).")
@click.option("--wait", is_flag=True, help="Wait until the re-snapshot is done.")
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Seconds --wait waits."
)
def snapshot_command(
    pipeline: Path, table_name: str, source_name: str | None, wait: bool, timeout: float
) -> None:
    """Re-snapshot one table of PIPELINE while streaming continues."""
    from strangler.cli.config import load_pipeline
    from strangler.connectors.mysql.config import MysqlSource

    config = load_pipeline(pipeline)
    source = _source(config, source_name)
    table = _table(table_name)
    if isinstance(source, MysqlSource):
        from strangler.connectors.mysql.incremental import request_snapshot

        request_id = request_snapshot(source, table)
        running = "a running connector picks it up within a second, a stopped one when it runs"
    else:
        request_id, active = _request(source, table, pipeline)
        running = "the connector is streaming" if active else "starts when the connector runs"
    click.echo(f"re-snapshot of {table} requested ({request_id}); {running}")
    if wait:
        done = _wait(source, request_id, timeout)
        click.echo(f"re-snapshot of {table} done: {done.rows} rows in {done.chunks} chunks")


def _request(source: PostgresSource, table: TableId, pipeline: Path) -> tuple[str, bool]:
    """Write the request's signal into the source's WAL; its id, and whether a connector
    streams from the slot now."""
    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.incremental import request_snapshot
    from strangler.connectors.postgres.slot import find_slot
    from strangler.connectors.postgres.source import MESSAGES_SINCE
    from strangler.core.errors import PrerequisiteMissing

    with connect(source.dsn.get_secret_value(), connect_timeout=5) as conn:
        slot = find_slot(conn, source.slot)
        if slot is None:
            raise PrerequisiteMissing(
                f"source {source.name} has no replication slot {source.slot} yet",
                fix=f"run `strangler run {pipeline}`: a first run snapshots every table",
            )
        if conn.info.server_version < MESSAGES_SINCE:
            raise PrerequisiteMissing(
                f"source {source.name}: re-snapshots while streaming need PostgreSQL 14 or "
                f"newer (this server is {conn.info.server_version // 10000})",
                fix="upgrade the server, or drop the source's slot and progress file "
                "(strangler teardown) to snapshot every table anew",
            )
        return request_snapshot(conn, source.slot, table), slot.active


def _source(config: PipelineConfig, name: str | None) -> PostgresSource | MysqlSource:
    from strangler.core.errors import ConfigError

    candidates = [s for s in config.sources if name is None or s.name == name]
    if not candidates:
        known = ", ".join(s.name for s in config.sources) or "none"
        raise ConfigError(f"no source named {name}", fix=f"use one of: {known}")
    if len(candidates) > 1:
        raise ConfigError(
            "the pipeline has several sources",
            fix=f"name one with --source ({', '.join(s.name for s in candidates)})",
        )
    (source,) = candidates
    return source


def _table(name: str) -> TableId:
    from strangler.core.errors import ConfigError
    from strangler.core.events import TableId

    schema, dot, table = name.rpartition(".")
    if not dot or not schema or not table:
        raise ConfigError(f"--table {name!r} is not schema.table", fix="e.g. --table public.orders")
    return TableId(schema, table)


def _wait(source: PostgresSource | MysqlSource, request_id: str, timeout: float) -> Request:
    from strangler.connectors.resnapshot import RequestFile
    from strangler.core.errors import StranglerError

    requests = RequestFile.of(source)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = next((r for r in requests.load() if r.id == request_id), None)
        if found is not None and found.state == "done":
            return found
        if found is not None and found.state in ("rejected", "failed"):
            raise StranglerError(f"the re-snapshot {found.state}: {found.reason}")
        time.sleep(0.2)
    raise StranglerError(
        f"the re-snapshot {request_id} did not finish within {timeout:.0f} s",
        fix=f"check that a connector of source {source.name} runs (strangler status); the "
        "request stays queued and runs when it does",
    )
