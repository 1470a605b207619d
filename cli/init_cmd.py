"""``strangler init``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("init")
def init_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler init` is not built yet")
