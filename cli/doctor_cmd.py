"""``strangler doctor``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("doctor")
def doctor_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler doctor` is not built yet")
