"""``strangler verify``: placeholder while it is being built (issue #7)."""

from __future__ import annotations

import click

from strangler.core.errors import StranglerError


@click.command("verify")
def verify_command() -> None:
    """(being built)"""
    raise StranglerError("`strangler verify` is not built yet")
