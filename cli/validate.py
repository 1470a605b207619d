"""``strangler validate FILE``: check a pipeline file without connecting to anything."""

from __future__ import annotations

from pathlib import Path

import click

from strangler.cli.output import emit_json


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(file: Path, as_json: bool) -> None:
    """Check FILE's syntax, keys, types and environment variables."""
    from strangler.cli.config import load_pipeline

    config = load_pipeline(file)
    if as_json:
        emit_json({"file": str(file), "valid": True, "name": config.name})
    else:
        click.echo(f"{file}: valid (pipeline {config.name!r})")
