"""``strangler offsets``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("offsets")
def offsets_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler offsets` is not built yet")
