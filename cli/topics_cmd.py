"""``strangler topics``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("topics")
def topics_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler topics` is not built yet")
