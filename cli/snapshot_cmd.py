"""``strangler snapshot``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("snapshot")
def snapshot_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler snapshot` is not built yet")
