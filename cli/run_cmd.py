"""``strangler run``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("run")
def run_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler run` is not built yet")
