"""``strangler teardown``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("teardown")
def teardown_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler teardown` is not built yet")
