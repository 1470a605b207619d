"""``strangler materialize FILE [VIEW...]``: keep the pipeline's views in sync with their topics."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from strangler.cli.logsetup import configure


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("views", nargs=-1)
@click.option(
    "--rebuild",
    "rebuild_view",
    metavar="VIEW",
    help="Rebuild VIEW from the beginning of its topics into shadow tables, then swap "
    "them in atomically while the old tables keep serving.",
)
@click.option(
    "--idle-exit",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop after this many seconds without new records (for scripts).",
)
def materialize(
    file: Path, views: tuple[str, ...], rebuild_view: str | None, idle_exit: float | None
) -> None:
    """Run the views of FILE (all, or those named) until SIGTERM/SIGINT; exactly once."""
    from strangler.cli.config import load_pipeline
    from strangler.core.errors import ConfigError
    from strangler.materializers import service

    pipeline = load_pipeline(file)
    if not pipeline.views:
        raise ConfigError(f"{file} has no `views:` section", fix="declare at least one view")
    configure(logging.INFO, "%(asctime)s %(levelname)s %(message)s")
    config = pipeline.materialize_config()
    if rebuild_view:
        service.rebuild(config, rebuild_view)
        click.echo(f"view {rebuild_view} rebuilt and swapped in")
    else:
        service.run(config, views, idle_exit_s=idle_exit)
