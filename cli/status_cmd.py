"""``strangler status``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("status")
def status_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler status` is not built yet")
