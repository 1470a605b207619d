"""``strangler offsets show|reset``: where each source resumes and where each view stands.

- A PostgreSQL source resumes at its slot's ``confirmed_flush_lsn``; its snapshot progress is
  the state file ``<state_dir>/<name>.snapshot.json``.
- A MySQL/MariaDB source resumes at the binlog position in its offset store (a file or a
  compacted Kafka topic), with its snapshot progress in the same document.
- A view stores the next Kafka offset and the last applied source position per partition in
  its own database, in the same transactions as its rows.

``reset`` is explicit and confirmed: a source goes back to a new snapshot (``--to-snapshot``)
or to a given position (``--position``); a view is rebuilt from the beginning of its topics
(shadow tables swapped in atomically: the safe way to make a view re-read).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strangler.cli.confirm import confirm
from strangler.cli.output import emit_json, table
from strangler.cli.services import TIMEOUT_S
from strangler.core.errors import ConfigError

if TYPE_CHECKING:
    from strangler.cli.config import PipelineConfig
    from strangler.cli.positions import SourcePosition
    from strangler.connectors.mysql.config import MysqlSource
    from strangler.connectors.postgres.config import PostgresSource
    from strangler.materializers.config import ViewConfig

    AnySource = PostgresSource | MysqlSource


def _source_row(position: SourcePosition) -> dict[str, Any]:
    """A source's row: where it resumes, its snapshot progress and (PostgreSQL) its slot."""
    detail = ""
    if position.type == "postgres" and position.active is None:
        detail = "no slot yet"
    elif position.type == "postgres":
        detail = "active" if position.active else "idle"
    return {
        "source": position.source, "type": position.type, "position": position.position,
        "store": position.store, "snapshot": position.snapshot_summary(), "detail": detail,
    }  # fmt: skip


# ---- commands ------------------------------------------------------------------------------


@click.group("offsets")
def offsets_command() -> None:
    """Stored positions of sources and views: show them, reset them."""


@offsets_command.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(file: Path, as_json: bool) -> None:
    """Each source's stored position and snapshot progress, each view's offsets.

    Exit codes: 2 bad file, 3 a source database, Kafka (kafka offset stores) or a view's
    PostgreSQL unreachable.
    """
    from strangler.cli.config import load_pipeline
    from strangler.cli.positions import source_position, view_offsets

    config = load_pipeline(file)
    sources = [_source_row(source_position(s, config.kafka)) for s in config.sources]
    views = [o for v in config.views for o in view_offsets(v) or []]
    if as_json:
        emit_json({"sources": sources, "views": [asdict(v) for v in views]})
        return
    if sources:
        columns = ["source", "type", "position", "store", "snapshot", "detail"]
        click.echo(table(sources, columns))
    if config.views:
        click.echo("" if not sources else "\n", nl=False)
        rows = [asdict(v) for v in views]
        columns = ["view", "topic", "partition", "next_offset", "position"]
        click.echo(table(rows, columns) if rows else "no view offsets stored yet")


@offsets_command.command("reset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_name", metavar="S", help="Reset this source.")
@click.option("--view", "view_name", metavar="V", help="Reset this view (a rebuild).")
@click.option("--to-snapshot", is_flag=True, help="The source starts over with a new snapshot.")
@click.option(
    "--position", metavar="POS",
    help="The source resumes at POS (PostgreSQL: an LSN ahead of the slot's; MySQL: "
    "gtids@file:pos, gtids, or file:pos).",
)  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(
    file: Path,
    source_name: str | None,
    view_name: str | None,
    to_snapshot: bool,
    position: str | None,
    yes: bool,
) -> None:
    """Reset a source's stored position or rebuild a view; lists what changes and asks first.

    \b
    --source S --to-snapshot   PostgreSQL: drop the slot and the snapshot progress file; MySQL:
                               clear the stored position. The next run snapshots every table.
    --source S --position POS  PostgreSQL: advance the slot to POS (changes before it are
                               never published); MySQL: store POS (snapshot progress kept).
    --view V                   rebuild V from the beginning of its topics into shadow tables,
                               swapped in atomically (the old tables serve until then).

    Stop the source's connector first (a view keeps serving, and may keep running, while
    it is rebuilt). Exit codes: 2 bad options or unknown name, 3 a service is down.
    """
    from strangler.cli.config import load_pipeline

    config = load_pipeline(file)
    if (source_name is None) == (view_name is None):
        raise ConfigError("name what to reset", fix="give exactly one of --source S or --view V")
    if view_name is not None:
        _reset_view(config, view_name, yes=yes, options=to_snapshot or position is not None)
        return
    assert source_name is not None
    if to_snapshot == (position is not None):
        raise ConfigError(
            f"say where source {source_name} resumes",
            fix="give exactly one of --to-snapshot or --position POS",
        )
    _reset_source(config, _one_source(config, source_name), position, yes=yes)


def _one_source(config: PipelineConfig, name: str) -> AnySource:
    from strangler.cli.connect import _select

    (source,) = _select(config, (name,))
    return source


def _one_view(config: PipelineConfig, name: str) -> ViewConfig:
    for view in config.views:
        if view.name == name:
            return view
    known = ", ".join(v.name for v in config.views) or "(the file declares no views)"
    raise ConfigError(f"no view named {name}", fix=f"use one of: {known}")


def _reset_view(config: PipelineConfig, name: str, *, yes: bool, options: bool) -> None:
    from strangler.materializers import service

    view = _one_view(config, name)
    if options:
        raise ConfigError(
            "--to-snapshot and --position apply to sources",
            fix=f"reset view {name} with --view alone: it is rebuilt from its topics",
        )
    plan = [
        f"rebuild view {name} from the beginning of its topics ({len(view.topics)}) into shadow "
        "tables, then swap them in; its stored offsets are replaced"
    ]
    if confirm("offsets reset", plan, yes=yes):
        service.rebuild(config.materialize_config(), name)
        click.echo(f"view {name} rebuilt and swapped in")


def _reset_source(
    config: PipelineConfig, source: AnySource, position: str | None, *, yes: bool
) -> None:
    from strangler.connectors.mysql.config import MysqlSource

    if isinstance(source, MysqlSource):
        _reset_mysql(config, source, position, yes=yes)
    else:
        _reset_postgres(source, position, yes=yes)


def _reset_mysql(
    config: PipelineConfig, source: MysqlSource, position: str | None, *, yes: bool
) -> None:
    from strangler.cli.positions import mysql_state, mysql_store, store_name
    from strangler.connectors.mysql.positions import BinlogPosition
    from strangler.connectors.mysql.state import SourceState, StateStore
    from strangler.core.errors import StranglerError

    state = mysql_state(source, config.kafka)
    where = store_name(source)
    current = state.position.encode() if state is not None else "nothing stored"
    if position is None:
        plan = [] if state is None else [f"clear the stored position {current} ({where}); "
                                         "the next run snapshots every table"]  # fmt: skip
        if confirm("offsets reset", plan, yes=yes):
            mysql_store(source, config.kafka).clear()
            click.echo(f"{source.name}: stored position cleared")
        return
    try:
        target = BinlogPosition.parse(position)
    except StranglerError as exc:
        raise ConfigError(f"--position {position!r}: {exc.message}",
                          fix="give gtids@file:pos, gtids, or file:pos") from exc  # fmt: skip
    plan = [f"store position {target.encode()} for {source.name} (was {current}; {where})"]
    if confirm("offsets reset", plan, yes=yes):
        store = mysql_store(source, config.kafka)
        try:
            StateStore(store).save(SourceState(target, state.tables if state else {}))
        finally:
            store.close()
        click.echo(f"{source.name}: resumes at {target.encode()}")


def _reset_postgres(source: PostgresSource, position: str | None, *, yes: bool) -> None:
    from strangler.cli.positions import progress_file
    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.slot import find_slot

    dsn = source.dsn.get_secret_value()
    with connect(dsn, connect_timeout=int(TIMEOUT_S)) as conn:
        slot = find_slot(conn, source.slot)
    progress = progress_file(source)
    if position is None:
        plan = [f"drop replication slot {source.slot} (at {slot.confirmed_flush})"] if slot else []
        if progress.path.exists():
            plan.append(f"delete the snapshot progress file {progress.path}")
        if plan:
            plan.append("(the next run takes a new snapshot of every table)")
        if confirm("offsets reset", plan, yes=yes):
            _drop_slot_and_progress(source, slot is not None)
            click.echo(f"{source.name}: the next run takes a new snapshot")
        return
    _advance_slot(source, slot, position, yes=yes)


def _drop_slot_and_progress(source: PostgresSource, slot_exists: bool) -> None:
    from strangler.cli.positions import progress_file
    from strangler.connectors.postgres.slot import drop_slot
    from strangler.connectors.postgres.source import replication_connection

    if slot_exists:
        with replication_connection(source.dsn.get_secret_value()) as rconn:
            drop_slot(rconn, source.slot, wait=False)
    progress_file(source).remove()


def _advance_slot(source: PostgresSource, slot: Any, position: str, *, yes: bool) -> None:
    from strangler.connectors.postgres.connector import connect
    from strangler.connectors.postgres.errors import LsnError
    from strangler.connectors.postgres.lsn import Lsn

    if slot is None:
        raise ConfigError(f"source {source.name} has no slot {source.slot} to move",
                          fix="start the source once, or use --to-snapshot")  # fmt: skip
    try:
        target = Lsn.parse(position)
    except LsnError as exc:
        raise ConfigError(f"--position {position!r} is not an LSN",
                          fix="give an LSN like 16/B374D848") from exc  # fmt: skip
    if slot.confirmed_flush is not None and target <= slot.confirmed_flush:
        raise ConfigError(
            f"slot {source.slot} is at {slot.confirmed_flush}; a slot only moves forward",
            fix="give a later LSN, or --to-snapshot to start over",
        )
    plan = [f"advance slot {source.slot} from {slot.confirmed_flush} to {target}: changes "
            "before it are never published"]  # fmt: skip
    if confirm("offsets reset", plan, yes=yes):
        with connect(source.dsn.get_secret_value(), connect_timeout=int(TIMEOUT_S)) as conn:
            conn.execute("SELECT pg_catalog.pg_replication_slot_advance(%s, %s::pg_lsn)",
                         (source.slot, str(target)))  # fmt: skip
        click.echo(f"{source.name}: slot {source.slot} at {target}")
