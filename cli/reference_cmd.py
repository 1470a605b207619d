"""``strangler reference``: print the pipeline file's reference (Markdown)."""

from __future__ import annotations

import click


@click.command(name="reference")
def reference_command() -> None:
    """Print every key of the pipeline file with its type, default and meaning."""
    from strangler.cli.config import PipelineConfig
    from strangler.cli.reference import reference

    click.echo(reference(PipelineConfig), nl=False)
